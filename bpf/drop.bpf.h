/* The kernel dropping a packet of a flow that still awaits its reply: rp_filter, no route, a firewall
 * rule, and so on. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"
#include "lib/conntrack.bpf.h"
#include "lib/passage.bpf.h"
#include "lib/awaiting.bpf.h"

/* Whether conntrack entry ct (read into th) still has a reply tuple with this hash: the memory may
 * hold another flow's entry by now. */
static __always_inline bool still_flow(__u64 ct, __u64 hash, struct nf_conntrack_tuple_hash th[2])
{
	return ct && read_conn(ct, th) && conn_reply_hash(th) == hash;
}

/* The flow that a packet without a conntrack entry answers, found from its headers (which form the reply
 * tuple), or 0; th: that flow's tuples. Among the entries with the tuple's tag, one still awaiting its
 * reply wins. */
static __always_inline __u64 flow_of_untracked_reply(const struct sk_buff *skb, struct nf_conntrack_tuple_hash th[2])
{
	/* Most skbs freed without a conntrack entry are not IP (netlink, unix sockets): one field read
	 * turns them away before any header is copied. */
	__u16 l3 = skb->protocol;
	if (l3 != bpf_htons(ETH_P_IP) && l3 != bpf_htons(ETH_P_IPV6))
		return 0;
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header;
	__u8 ip[40] = {};
	if (bpf_probe_read_kernel(ip, sizeof(ip), head + nh))
		return 0;
	__u32 src[4] = {}, dst[4] = {};
	__u16 family;
	__u8 proto;
	unsigned char *l4;
	if ((ip[0] >> 4) == 4) {
		family = AF_INET;
		proto = ip[9];
		__builtin_memcpy(src, ip + 12, 4);
		__builtin_memcpy(dst, ip + 16, 4);
		l4 = head + nh + (ip[0] & 0xf) * 4;
	} else if ((ip[0] >> 4) == 6) {
		family = AF_INET6;
		proto = ip[6]; /* a reply is not expected to carry extension headers */
		__builtin_memcpy(src, ip + 8, 16);
		__builtin_memcpy(dst, ip + 24, 16);
		l4 = head + nh + 40;
	} else {
		return 0;
	}
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 0;
	__be16 ports[2] = {};
	if (bpf_probe_read_kernel(ports, sizeof(ports), l4))
		return 0;
	__u64 hash = reply_hash(family, proto, src, dst, ports[0], ports[1]);
	struct awaiting_bucket *b = bucket_of(hash);
	if (!b)
		return 0;
	__u32 tag = tag_of(hash);
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
	} else if (!read_conn(key, th) || !awaiting(key, th)) {
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
