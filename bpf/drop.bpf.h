/* The kernel dropping a packet of a flow that still awaits its reply: rp_filter, no route, a firewall
 * rule, and so on. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"
#include "lib/conntrack.bpf.h"
#include "lib/passage.bpf.h"
#include "lib/awaiting.bpf.h"
#include "lib/reply_lookup.bpf.h"
#include "lib/held.bpf.h"

/* A packet to a service IP that conntrack made no entry for: it could not (its table full: "nf_conntrack:
 * table full, dropping packet"), or a rule before conntrack (the raw table) dropped it. Nothing of the
 * flow reached the NAT hooks, so it is named from the headers (h) and reported as such. */
static __always_inline void on_untracked_to_service(const struct sk_buff *skb, const struct reply_headers *h,
						    __u32 reason)
{
	bool to_service = h->family == AF_INET ? in_service_cidrs_v4(h->dst[0])
					       : in_service_cidrs_v6((const struct in6_addr *)h->dst);
	if (!to_service)
		return;
	/* Dropped at LOCAL_OUT, a packet of this host's has no device yet, but its socket. */
	struct net_device *dev = skb->dev;
	struct sock *sk = skb->sk;
	__u32 netns = dev ? dev->nd_net.net->ns.inum : sk ? sk->__sk_common.skc_net.net->ns.inum : 0;
	if (!netns || !wanted_netns(netns))
		return;
	struct svc_event *e = reserve_event(SVC_EV_DROP, netns);
	if (!e)
		return;
	e->tuple.family = h->family;
	e->tuple.proto = h->proto;
	__builtin_memcpy(e->tuple.src, h->src, 16);
	__builtin_memcpy(e->tuple.dst, h->dst, 16);
	e->tuple.sport = bpf_ntohs(h->sport);
	e->tuple.dport = bpf_ntohs(h->dport);
	e->reply.ifindex = dev ? dev->ifindex : 0;
	e->reply.ctinfo = SVC_CTINFO_UNTRACKED;
	e->reply.drop_reason = reason;
	send_packet(network_header(skb), &e->tuple, netns, SVC_PKT_DROPPED, e->reply.ifindex, reason);
	submit_event(e);
}

/* Whether a dropped packet went the reply way: conntrack said so, or it had no entry and named its
 * flow by its headers as a reply does. */
static __always_inline bool reply_way(__u32 ctinfo)
{
	return ctinfo == IP_CT_ESTABLISHED_REPLY || ctinfo == IP_CT_RELATED_REPLY || ctinfo == SVC_CTINFO_INVALID;
}

/* A freed skb: reported when it belongs to a service flow not yet answered. reason: the kernel's enum
 * skb_drop_reason, which userspace names from the running kernel's BTF. */
static __always_inline void on_kfree_skb(const struct sk_buff *skb, __u32 reason)
{
	unsigned long nfct = skb->_nfct;
	if (!awaiting_any)
		return;
	__u32 ctinfo = nfct & NFCT_INFOMASK;
	__u64 key = nfct & ~NFCT_INFOMASK;
	struct nf_conntrack_tuple_hash th[2];
	struct in_passage *p;
	__u32 slot = 0;
	/* An assured entry has had its handshake (TCP) or replies both ways (UDP): answered long ago.
	 * Drops of established traffic cost this one read. */
	if (nfct && (BPF_CORE_READ((const struct nf_conn *)key, status) & IPS_ASSURED))
		return;
	if (!nfct) {
		/* No conntrack entry: conntrack found the packet INVALID, or never saw it, or could not make
		 * one. A reply names its flow by its headers; so does a packet to a service IP. */
		struct reply_headers h = {};
		if (!is_ip(skb) || !read_reply_headers(skb->head + skb->network_header, false, &h))
			return;
		key = flow_of_reply(&h, th);
		ctinfo = SVC_CTINFO_INVALID;
		if (!key) {
			on_untracked_to_service(skb, &h, reason);
			return;
		}
		if (awaiting(key, th, &slot) && !drop_worth_reporting(slot, key, true))
			return;
	} else if ((p = passage_of(key, bpf_ktime_get_ns()))) {
		/* dropped on its way out, before POST_ROUTING (a REJECT in OUTPUT, a DROP in FORWARD) */
		if (!read_conn(key, th))
			return;
		release_passage(p, key, th, BPF_CORE_READ((const struct nf_conn *)key, ct_net.net, ns.inum));
	} else if (!read_conn(key, th)) {
		return;
	} else if (awaiting(key, th, &slot)) {
		if (!drop_worth_reporting(slot, key, reply_way(ctinfo)))
			return;
	} else if (!(ctinfo == IP_CT_NEW && service_family(th))) {
		/* Neither awaited nor a new service flow's packet that never left (the latter is for
		 * kernels without LOCAL_OUT's passage: a REJECT in OUTPUT, a next hop that never resolves) */
		return;
	}
	struct net_device *dev = skb->dev; /* not set yet for a packet dropped at LOCAL_OUT */
	__u32 netns = BPF_CORE_READ((const struct nf_conn *)key, ct_net.net, ns.inum);
	struct svc_event *e = reserve_event(SVC_EV_DROP, netns);
	if (!e)
		return;
	read_tuple(&e->tuple, &th[0].tuple);
	e->reply.ifindex = dev ? dev->ifindex : 0;
	e->reply.ctinfo = ctinfo;
	e->reply.drop_reason = reason;
	send_packet(network_header(skb), &e->tuple, netns, SVC_PKT_DROPPED, e->reply.ifindex, reason);
	submit_event(e);
}
