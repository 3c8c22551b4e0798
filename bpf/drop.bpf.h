/* The kernel dropping a packet of a flow that still awaits its reply: rp_filter, no route, a firewall
 * rule, and so on. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"
#include "lib/conntrack.bpf.h"
#include "lib/passage.bpf.h"
#include "lib/awaiting.bpf.h"
#include "lib/reply_lookup.bpf.h"

/* The flow that a packet without a conntrack entry answers, found from its headers, or 0; th: that
 * flow's tuples. */
static __always_inline __u64 flow_of_untracked_reply(const struct sk_buff *skb, struct nf_conntrack_tuple_hash th[2])
{
	struct reply_headers h = {};
	if (!is_ip(skb) || !read_reply_headers(skb->head + skb->network_header, false, &h))
		return 0;
	return flow_of_reply(&h, th);
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
	if (!nfct) {
		/* No conntrack entry: conntrack found the packet INVALID, or never saw it. */
		key = flow_of_untracked_reply(skb, th);
		ctinfo = SVC_CTINFO_INVALID;
		if (!key)
			return;
	} else if (passage_of(key)) {
		/* dropped on its way out, before POST_ROUTING (a REJECT in OUTPUT, a DROP in FORWARD) */
		if (!read_conn(key, th))
			return;
	} else if (!read_conn(key, th)) {
		return;
	} else if (!awaiting(key, th) && !(ctinfo == IP_CT_NEW && service_family(th))) {
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
	submit_event(e);
}
