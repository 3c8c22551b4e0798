/* Finding the flow a packet answers from the packet's own headers, where its conntrack entry is not at
 * hand: a reply conntrack found INVALID (drop.bpf.h), and every packet received on kernels without BPF
 * netfilter links (receive.bpf.h), which meet it before conntrack does. A reply's headers are its flow's
 * conntrack reply tuple, the key of the table of flows awaiting their reply (awaiting.bpf.h). */
#pragma once

#include "base.bpf.h"
#include "conntrack.bpf.h"
#include "awaiting.bpf.h"

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_TIME_EXCEED 3

/* A reply tuple read from headers. */
struct reply_headers {
	__u32 src[4], dst[4];
	__be16 sport, dport;
	__u16 family;
	__u8 proto;      /* TCP or UDP */
	bool icmp_error; /* read from the packet an ICMP error quotes, turned round */
};

/* The IP header at l3: addresses, protocol and where the transport header starts. IPv6 extension
 * headers are not followed: a reply is not expected to carry them. */
static __always_inline bool read_ip_header(const unsigned char *l3, struct reply_headers *h, const unsigned char **l4)
{
	__u8 ip[40] = {};
	if (bpf_probe_read_kernel(ip, sizeof(ip), l3))
		return false;
	if ((ip[0] >> 4) == 4) {
		h->family = AF_INET;
		h->proto = ip[9];
		__builtin_memcpy(h->src, ip + 12, 4);
		__builtin_memcpy(h->dst, ip + 16, 4);
		*l4 = l3 + (ip[0] & 0xf) * 4;
		return true;
	}
	if ((ip[0] >> 4) == 6) {
		h->family = AF_INET6;
		h->proto = ip[6];
		__builtin_memcpy(h->src, ip + 8, 16);
		__builtin_memcpy(h->dst, ip + 24, 16);
		*l4 = l3 + 40;
		return true;
	}
	return false;
}

static __always_inline bool is_icmp_error(__u8 proto, __u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED;
	return proto == IPPROTO_ICMPV6 && (type == ICMPV6_DEST_UNREACH || type == ICMPV6_TIME_EXCEED);
}

/* The reply tuple of the packet at l3 (its network header). With follow_icmp, an ICMP error stands for
 * the flow of the packet it quotes, which went the other way: its addresses and ports swap. False for
 * anything but TCP, UDP and (followed) ICMP errors about them. */
static __always_inline bool read_reply_headers(const unsigned char *l3, bool follow_icmp, struct reply_headers *h)
{
	const unsigned char *l4;
	if (!read_ip_header(l3, h, &l4))
		return false;
	h->icmp_error = false;
	if (follow_icmp && (h->proto == IPPROTO_ICMP || h->proto == IPPROTO_ICMPV6)) {
		__u8 type = 0;
		bpf_probe_read_kernel(&type, 1, l4);
		if (!is_icmp_error(h->proto, type))
			return false;
		struct reply_headers quoted = {};
		const unsigned char *quoted_l4;
		if (!read_ip_header(l4 + 8, &quoted, &quoted_l4)) /* the quote follows the 8-byte ICMP header */
			return false;
		__builtin_memcpy(h->src, quoted.dst, 16);
		__builtin_memcpy(h->dst, quoted.src, 16);
		h->proto = quoted.proto;
		h->icmp_error = true;
		l4 = quoted_l4;
	}
	if (h->proto != IPPROTO_TCP && h->proto != IPPROTO_UDP)
		return false;
	__be16 ports[2] = {};
	if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
		return false;
	h->sport = h->icmp_error ? ports[1] : ports[0];
	h->dport = h->icmp_error ? ports[0] : ports[1];
	return true;
}

/* Whether conntrack entry ct (read into th) still has a reply tuple with this hash: the memory may
 * hold another flow's entry by now, or be freed. */
static __always_inline bool still_flow(__u64 ct, __u64 hash, struct nf_conntrack_tuple_hash th[2])
{
	return ct && read_conn_of_past(ct, th) && conn_reply_hash(th) == hash;
}

/* The remembered flow with this reply tuple, or 0; th: that flow's tuples. Among the entries with the
 * tuple's tag, one still awaiting its reply wins. */
static __always_inline __u64 flow_of_reply(const struct reply_headers *h, struct nf_conntrack_tuple_hash th[2])
{
	__u64 hash = reply_hash(h->family, h->proto, h->src, h->dst, h->sport, h->dport);
	struct awaiting_bucket *b = bucket_of(hash);
	if (!b)
		return 0;
	__u16 tag = tag_of(hash);
	__u64 awaiting_ct = 0, answered_ct = 0;
#pragma unroll
	for (int i = 0; i < SVC_AWAITING_WAYS; i++) {
		if (b->e[i].tag != tag)
			continue;
		if (b->e[i].stamp)
			awaiting_ct = b->e[i].ct;
		else
			answered_ct = b->e[i].ct;
	}
	if (still_flow(awaiting_ct, hash, th))
		return awaiting_ct;
	return still_flow(answered_ct, hash, th) ? answered_ct : 0;
}

/* Most packets are not IP (netlink, unix sockets, ARP): one field read turns them away. */
static __always_inline bool is_ip(const struct sk_buff *skb)
{
	__u16 l3 = skb->protocol;
	return l3 == bpf_htons(ETH_P_IP) || l3 == bpf_htons(ETH_P_IPV6);
}
