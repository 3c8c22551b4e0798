// SPDX-License-Identifier: GPL-2.0
/* Programs that run pieces of bpf/lib/ under BPF_PROG_TEST_RUN, for test_bpf_lib.cpp: each takes its
 * inputs as a raw tracepoint's arguments (opts.ctx_in, an array of u64) and returns what the piece
 * returned. Never attached. */
#include "lib/base.bpf.h"
#include "lib/cidr.bpf.h"
#include "lib/awaiting.bpf.h"
#include "lib/reply_lookup.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ctx[0]: an IPv4 address, network byte order. Returns in_service_cidrs_v4. */
SEC("raw_tp")
int cidr_v4(__u64 *ctx)
{
	return in_service_cidrs_v4((__be32)ctx[0]);
}

/* ctx[0..1]: an IPv6 address, its 16 bytes as they are. Returns in_service_cidrs_v6. */
SEC("raw_tp")
int cidr_v6(__u64 *ctx)
{
	__u64 words[2] = { ctx[0], ctx[1] };
	struct in6_addr addr;
	__builtin_memcpy(&addr, words, sizeof(addr));
	return in_service_cidrs_v6(&addr);
}

/* ctx[0]: a conntrack entry's address (any number: it is not read), ctx[1]: the flow's reply hash.
 * Returns remember's enum remembered. */
SEC("raw_tp")
int await_remember(__u64 *ctx)
{
	__u32 slot, *held;
	return remember(ctx[0], ctx[1], bpf_ktime_get_ns(), &slot, &held);
}

#define FLOW_ABSENT 0
#define FLOW_AWAITING 1
#define FLOW_ANSWERED 2

/* ctx as await_remember's. Returns FLOW_ABSENT, FLOW_AWAITING or FLOW_ANSWERED. */
SEC("raw_tp")
int await_find(__u64 *ctx)
{
	__u32 slot;
	struct svc_awaiting_entry *e = find_awaiting(ctx[1], ctx[0], &slot);
	if (!e)
		return FLOW_ABSENT;
	return e->stamp ? FLOW_AWAITING : FLOW_ANSWERED;
}

/* ctx as await_remember's: the flow's first reply, as record_reply handles it. Returns whether the
 * flow was found. */
SEC("raw_tp")
int await_answer(__u64 *ctx)
{
	__u32 slot;
	struct svc_awaiting_entry *e = find_awaiting(ctx[1], ctx[0], &slot);
	if (!e)
		return 0;
	mark_answered(e);
	return 1;
}

/* A new flow takes this CPU's next held slot (held.bpf.h's take_held_slot). ctx[0]: its conntrack
 * entry's address, ctx[1]: the state it is left in (SVC_HELD, or SVC_HELD_COUNTED once answered).
 * Returns the slot, or -1 when there was none. */
SEC("raw_tp")
int held_take(__u64 *ctx)
{
	__u32 slot;
	struct svc_held_flow *h = take_held_slot(&slot);
	if (!h)
		return -1;
	h->ct = ctx[0];
	h->has_route = 0;
	h->ingress_ifindex = 0;
	h->state = ctx[1];
	return slot;
}

/* ctx[0]: a held slot, ctx[1]: a conntrack entry's address. Returns whether held_slot gives that
 * flow's slot. */
SEC("raw_tp")
int held_owned(__u64 *ctx)
{
	return held_slot(ctx[0], ctx[1]) != NULL;
}

/* ctx[0]: a time in µs. Returns held.bpf.h's log2_bucket of it. */
SEC("raw_tp")
int connect_bucket_of(__u64 *ctx)
{
	return log2_bucket(ctx[0]);
}

/* A staged route record's tuple against a flow's (held.bpf.h's route_of_flow). ctx[0]: the route's
 * source port | its source address (IPv4) << 32; ctx[1] the flow's the same way; both to 172.24.0.1:443
 * over TCP. Returns whether the route is the flow's. */
SEC("raw_tp")
int route_is_flows(__u64 *ctx)
{
	struct svc_tuple r = {}, t = {};
	r.family = t.family = AF_INET;
	r.proto = t.proto = IPPROTO_TCP;
	r.dport = t.dport = 443;
	put_v4(r.dst, bpf_htonl(0xac180001));
	put_v4(t.dst, bpf_htonl(0xac180001));
	r.sport = ctx[0] & 0xffff;
	t.sport = ctx[1] & 0xffff;
	put_v4(r.src, (__be32)(ctx[0] >> 32));
	put_v4(t.src, (__be32)(ctx[1] >> 32));
	return route_of_flow(&r, &t);
}

/* A flow's reply hash, computed both ways the programs compute it: from conntrack's reply tuple
 * (conn_reply_hash, at the NAT and reply hooks) and from a reply packet's header fields (reply_hash, as
 * the drop hook does for a packet conntrack left without an entry). ctx[0]: family | protocol << 16 |
 * source port << 32 | destination port << 48, ports in network byte order; ctx[1..2] the reply's
 * source address, ctx[3..4] its destination (an IPv4 address in the first 4 bytes, the rest zero).
 * Returns whether the two agree; the hash is left in reply_hash_out. */
__u64 reply_hash_out = 0;

SEC("raw_tp")
int hash_both_ways(__u64 *ctx)
{
	__u16 family = ctx[0] & 0xffff;
	__u8 proto = (ctx[0] >> 16) & 0xff;
	__u16 sport_be = (ctx[0] >> 32) & 0xffff;
	__u16 dport_be = ctx[0] >> 48;
	__u64 src64[2] = { ctx[1], ctx[2] }, dst64[2] = { ctx[3], ctx[4] };
	__u32 src[4], dst[4];
	__builtin_memcpy(src, src64, 16);
	__builtin_memcpy(dst, dst64, 16);

	struct nf_conntrack_tuple_hash th[2] = {};
	struct nf_conntrack_tuple *reply = &th[1].tuple;
	reply->src.l3num = family;
	reply->dst.protonum = proto;
	__builtin_memcpy(reply->src.u3.all, src, 16);
	__builtin_memcpy(reply->dst.u3.all, dst, 16);
	reply->src.u.all = sport_be;
	reply->dst.u.all = dport_be;

	__u64 from_conntrack = conn_reply_hash(th);
	reply_hash_out = from_conntrack;
	return from_conntrack == reply_hash(family, proto, src, dst, sport_be, dport_be);
}

/* What read_reply_headers made of the last packet reply_tuple was given. */
__u32 got_src, got_dst;
__u16 got_sport, got_dport;
__u8 got_proto, got_icmp_error;

/* ctx: a packet from its network header on (at most 96 bytes), ICMP errors followed. Returns whether
 * read_reply_headers took it; what it read is in the got_ globals (IPv4 addresses, or an IPv6
 * address's last word). */
SEC("raw_tp")
int reply_tuple(__u64 *ctx)
{
	struct reply_headers h = {};
	if (!read_reply_headers((const unsigned char *)ctx, true, &h))
		return 0;
	got_src = h.family == AF_INET6 ? h.src[3] : h.src[0];
	got_dst = h.family == AF_INET6 ? h.dst[3] : h.dst[0];
	got_sport = bpf_ntohs(h.sport);
	got_dport = bpf_ntohs(h.dport);
	got_proto = h.proto;
	got_icmp_error = h.icmp_error;
	return 1;
}
