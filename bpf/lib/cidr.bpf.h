/* Is an address in the service CIDRs? The test every program makes first, on every packet or lookup
 * it sees, so it must be cheap. */
#pragma once

#include "base.bpf.h"

/* Set by userspace before load, so the verifier knows the CIDRs as constants and prunes the slots
 * not in use: up to SVC_INLINE_V4 IPv4 prefixes are tested inline; n_v4 above that means "look in
 * the trie". The same for IPv6, four words per address. Network byte order throughout. */
const volatile __u32 n_v4 = SVC_INLINE_V4 + 1;
const volatile __u32 v4_net[SVC_INLINE_V4] = {};
const volatile __u32 v4_mask[SVC_INLINE_V4] = {};
const volatile __u32 n_v6 = SVC_INLINE_V6 + 1;
const volatile __u32 v6_net[SVC_INLINE_V6][4] = {};
const volatile __u32 v6_mask[SVC_INLINE_V6][4] = {};

/* Every CIDR, for when there are too many to test inline; IPv4 ones as IPv4-mapped IPv6 prefixes. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct svc_cidr_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} service_cidrs SEC(".maps");

static __always_inline bool in_service_cidrs_v4(__be32 daddr)
{
	if (n_v4 <= SVC_INLINE_V4) {
#pragma unroll
		for (int i = 0; i < SVC_INLINE_V4; i++) {
			if (i >= n_v4)
				return false;
			if ((daddr & v4_mask[i]) == v4_net[i])
				return true;
		}
		return false;
	}
	struct svc_cidr_key key = { .prefixlen = 128 };
	key.addr[10] = 0xff;
	key.addr[11] = 0xff;
	__builtin_memcpy(&key.addr[12], &daddr, 4);
	return bpf_map_lookup_elem(&service_cidrs, &key) != NULL;
}

static __always_inline bool in_service_cidrs_v6(const struct in6_addr *daddr)
{
	__u32 w[4];
	__builtin_memcpy(w, daddr, 16);
	/* An IPv6 socket connecting to an IPv4 address uses its IPv4-mapped form: that matches the IPv4
	 * CIDRs, as it does in the trie, which holds them mapped. */
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff) && in_service_cidrs_v4(w[3]))
		return true;
	if (n_v6 <= SVC_INLINE_V6) {
#pragma unroll
		for (int i = 0; i < SVC_INLINE_V6; i++) {
			if (i >= n_v6)
				return false;
			if ((w[0] & v6_mask[i][0]) == v6_net[i][0] && (w[1] & v6_mask[i][1]) == v6_net[i][1] &&
			    (w[2] & v6_mask[i][2]) == v6_net[i][2] && (w[3] & v6_mask[i][3]) == v6_net[i][3])
				return true;
		}
		return false;
	}
	struct svc_cidr_key key = { .prefixlen = 128 };
	__builtin_memcpy(key.addr, daddr, 16);
	return bpf_map_lookup_elem(&service_cidrs, &key) != NULL;
}
