/* What conntrack DNAT'd and SNAT'd a service flow to, which device it really leaves by, and the first
 * reply that comes back for it. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"
#include "lib/cidr.bpf.h"
#include "lib/conntrack.bpf.h"
#include "lib/passage.bpf.h"
#include "lib/awaiting.bpf.h"
#include "lib/reply_lookup.bpf.h"
#include "lib/held.bpf.h"

/* The test each packet of a new conntrack entry (ctinfo NEW) pays at the NAT hooks: is the entry's
 * original destination in the CIDRs? Its family if so, else 0; th: the entry's tuples. */
static __always_inline __u16 new_flow_to_service(unsigned long nfct, struct nf_conntrack_tuple_hash th[2])
{
	if ((nfct & NFCT_INFOMASK) != IP_CT_NEW || !read_conn(nfct & ~NFCT_INFOMASK, th))
		return 0;
	return service_family(th);
}

/* A packet of a conntrack entry to the CIDRs that has had no reply yet (new_flow_to_service), at a hook
 * after NAT; once a reply is seen the entry's packets are ESTABLISHED and cost one compare. Records,
 * when every flow is streamed: one per packet leaving (POST_ROUTING: the SYNs and their retransmits),
 * one per packet of a forwarded flow coming in before one has left (PRE_ROUTING: its first, and its
 * retransmits when this host drops them), and none for LOCAL_OUT, whose device the POST_ROUTING record
 * carries. Otherwise a flow's first packet is held (held.bpf.h), and its next one releases it.
 * packet: its network header, for --pcap (NULL: not to be captured here). */
static __always_inline void record_unreplied(unsigned long nfct, const struct nf_conntrack_tuple_hash th[2],
					     __u16 l3, __u32 netns, __u32 hook, int in_ifindex, int out_ifindex,
					     const unsigned char *packet)
{
	__u64 ct = nfct & ~NFCT_INFOMASK;
	if (!wanted_netns(netns))
		return;
	if (!awaiting_any)
		awaiting_any = 1;
	if (hook == SVC_NAT_LOCAL_OUT) {
		begin_passage(ct, out_ifindex);
		return;
	}
	__s32 route_ifindex = 0;
	struct in_passage *p = NULL;
	__u32 slot = 0;
	__u64 now = 0;
	if (hook == SVC_NAT_PRE_ROUTING) {
		/* A flow of this host's own that came back in over loopback has already left (an answered
		 * entry with its tuple is a recycled one: conntrack reused it for a new flow). */
		struct svc_awaiting_entry *v = awaiting(ct, th, &slot);
		if (v && v->stamp)
			return;
		/* Next comes the input route lookup, on this CPU, for the DNAT target. */
		if (l3 == AF_INET)
			p = expect_forwarded_route(ct, th[1].tuple.src.u3.ip, th[0].tuple.src.u3.ip);
		else
			p = begin_passage(ct, 0);
		if (!every_flow) {
			/* held: its record goes with the flow's first packet at POST_ROUTING, or its drop */
			if (p)
				p->ingress_ifindex = in_ifindex;
			return;
		}
	} else {
		now = bpf_ktime_get_ns(); /* read once: a read of the clock costs ~25 ns under kvm-clock */
		p = passage_of(ct, now);
		if (p) {
			route_ifindex = p->route_ifindex;
			p->ct = 0;
			p->backend = 0;
		}
	}

	if (hook == SVC_NAT_POST_ROUTING) {
		__u32 *held = NULL;
		enum remembered r = remember(ct, conn_reply_hash(th), now, &slot, &held);
		if (r == REMEMBERED_NEW && !every_flow && held) {
			struct svc_held_flow *h = take_held_slot(&slot);
			if (h) {
				hold_flow(h, slot, ct, th, netns, out_ifindex, route_ifindex, p, packet, now);
				*held = slot + 1;
				return;
			}
		} else if (r == REMEMBERED_AGAIN) {
			struct svc_held_flow *h = held_slot(slot, ct);
			if (h)
				release_held(h, slot); /* a packet sent again: the first went unanswered */
		}
	}

	struct svc_event *e = reserve_event(SVC_EV_NAT, netns);
	if (!e)
		return;
	bool in = hook == SVC_NAT_PRE_ROUTING;
	fill_nat_record(e, ct, th, hook, in ? in_ifindex : out_ifindex, route_ifindex);
	send_packet(packet, &e->tuple, netns, in ? SVC_PKT_CAME_IN : SVC_PKT_LEFT, in ? in_ifindex : out_ifindex, 0);
	submit_event(e);
}

/* What the answer was: an ICMP error's type and code, or the flags of a TCP reply (SYN-ACK or RST);
 * l3: its network header. */
static __always_inline void read_reply_header(const unsigned char *l3, struct svc_reply_info *r)
{
	__u8 ip[10] = {};
	bpf_probe_read_kernel(ip, sizeof(ip), l3);
	const unsigned char *l4;
	__u8 proto;
	bool v6 = (ip[0] >> 4) == 6;
	if (v6) { /* a reply is not expected to carry extension headers */
		l4 = l3 + 40;
		proto = ip[6];
	} else {
		l4 = l3 + (ip[0] & 0xf) * 4;
		proto = ip[9];
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		__u8 icmp[2] = {};
		bpf_probe_read_kernel(icmp, 2, l4);
		r->icmp_type = icmp[0];
		r->icmp_code = icmp[1];
		if (v6)
			bpf_probe_read_kernel(r->icmp_from, 16, l3 + 8);
		else
			bpf_probe_read_kernel(r->icmp_from, 4, l3 + 12);
	} else if (proto == IPPROTO_TCP) {
		bpf_probe_read_kernel(&r->tcp_flags, 1, l4 + 13);
	}
}

/* Whether a first reply answers the flow: a SYN-ACK, or a UDP reply (not an ICMP error, not a RST). */
static __always_inline bool is_answer(__u32 ctinfo, __u8 proto, const struct svc_reply_info *r)
{
	if (ctinfo != IP_CT_ESTABLISHED_REPLY)
		return false;
	return proto != IPPROTO_TCP || (r->tcp_flags & 0x06) == 0x02; /* SYN without RST */
}

/* The first reply of a flow awaiting it (v, in slot), reported, or counted when the flow is held and
 * this answers it; l3: its network header. */
static __always_inline void report_reply(struct svc_awaiting_entry *v, __u32 slot,
					 const struct nf_conntrack_tuple_hash th[2], const unsigned char *l3,
					 __u32 ctinfo, __u32 netns, int in_ifindex)
{
	struct svc_reply_info r = {};
	read_reply_header(l3, &r);
	mark_answered(v);
	struct svc_held_flow *h = held_slot(slot, v->ct);
	if (h && h->state == SVC_HELD) {
		if (is_answer(ctinfo, th[0].tuple.dst.protonum, &r) && count_answered(h, bpf_ktime_get_ns()))
			return;
		release_held(h, slot);
	}
	struct svc_event *e = reserve_event(SVC_EV_REPLY, netns);
	if (!e)
		return;
	read_tuple(&e->tuple, &th[0].tuple);
	e->reply = r;
	e->reply.ifindex = in_ifindex;
	e->reply.ctinfo = ctinfo;
	send_packet(l3, &e->tuple, netns, SVC_PKT_REPLY, in_ifindex, 0);
	submit_event(e);
}

/* A packet in the reply direction: the first of each flow awaiting its reply is reported. */
static __always_inline void record_reply(const struct sk_buff *skb, unsigned long nfct, __u32 netns,
					 int in_ifindex)
{
	__u32 ctinfo = nfct & NFCT_INFOMASK;
	if (ctinfo != IP_CT_ESTABLISHED_REPLY && ctinfo != IP_CT_RELATED_REPLY)
		return;
	__u64 key = nfct & ~NFCT_INFOMASK;
	struct nf_conntrack_tuple_hash th[2];
	if (!read_conn(key, th))
		return;
	__u32 slot = 0;
	struct svc_awaiting_entry *v = awaiting(key, th, &slot);
	if (v && v->stamp) /* PRE_ROUTING has set the network header */
		report_reply(v, slot, th, skb->head + skb->network_header, ctinfo, netns, in_ifindex);
}

/* A service flow's packet is handled out of line, by a BPF-to-BPF call made only for such packets, so
 * the path every other packet takes stays a few instructions at the start of the program rather than
 * ending in a jump over kilobytes of it. */
static __noinline int nat_service_packet(const struct sk_buff *skb, const struct nf_hook_state *state, __u32 hook,
					 __u32 l3, const struct nf_conntrack_tuple_hash *th)
{
	int in = state->in ? state->in->ifindex : 0;
	int out = state->out ? state->out->ifindex : 0;
	record_unreplied(skb->_nfct, th, l3, state->net->ns.inum, hook, in, out, network_header(skb));
	return 0;
}

static __noinline int nat_reply_packet(const struct sk_buff *skb, const struct nf_hook_state *state)
{
	record_reply(skb, skb->_nfct, state->net->ns.inum, state->in ? state->in->ifindex : 0);
	return 0;
}

/* The work at a netfilter hook just after NAT, whichever program is there: the BPF netfilter links,
 * or fexit on the function that runs a hook's functions (nat_hook_slow). */
static __always_inline int netfilter_hook(const struct sk_buff *skb, const struct nf_hook_state *state, __u32 hook)
{
	/* The cheapest rejections come first: most packets are untracked, or belong to flows answered
	 * long ago (ESTABLISHED, original direction), or are replies while no service flow was ever
	 * remembered. Then a new flow's destination is tested against the CIDRs; the devices and the
	 * namespace are read only for a flow to a service. */
	unsigned long nfct = skb->_nfct;
	__u32 ctinfo = nfct & NFCT_INFOMASK;
	if (!nfct)
		return NF_ACCEPT; /* untracked: no flow to join it to */
	if (ctinfo == IP_CT_NEW) {
		struct nf_conntrack_tuple_hash th[2];
		__u16 l3 = new_flow_to_service(nfct, th);
		if (l3)
			nat_service_packet(skb, state, hook, l3, th);
	} else if ((ctinfo == IP_CT_ESTABLISHED_REPLY || ctinfo == IP_CT_RELATED_REPLY) &&
		   (hook == SVC_NAT_PRE_ROUTING ? awaiting_any : hook == SVC_NAT_LOCAL_OUT && local_answers_awaited) &&
		   /* Only a first reply can be awaited, and conntrack marks an entry assured only after
		    * it (for TCP, at the handshake's last ACK): the replies of established traffic, most of
		    * what comes in, cost only this read. */
		   !(BPF_CORE_READ((const struct nf_conn *)(nfct & ~NFCT_INFOMASK), status) & IPS_ASSURED)) {
		nat_reply_packet(skb, state); /* coming in, or answered by this host (local_answers_awaited) */
	}
	return NF_ACCEPT;
}

/* The svctrace hook of a netfilter hook (NF_INET_*) that nat_hook_slow sees the end of, or 0 for a
 * hook it does not serve. */
static __always_inline __u32 nat_hook_of(__u8 pf, __u32 nf_hook)
{
	if (pf != NFPROTO_IPV4 && pf != NFPROTO_IPV6)
		return 0;
	switch (nf_hook) {
	case NF_INET_LOCAL_OUT: return SVC_NAT_LOCAL_OUT;
	case NF_INET_POST_ROUTING: return SVC_NAT_POST_ROUTING;
	case NF_INET_PRE_ROUTING: return SVC_NAT_PRE_ROUTING;
	}
	return 0;
}

/* A packet handed to the driver, for kernels without BPF netfilter links: it is past POST_ROUTING and
 * still has its conntrack entry (the replies are on_receive's). A packet that came in by a device
 * (skb_iif, set on receive) and has no socket of this host is forwarded: it is reported as
 * PRE_ROUTING would have, with that device, so that userspace does not judge a pod's flow by the
 * route of this host's own traffic (the source a forwarded flow keeps is the pod's, not one the route
 * chose). */
static __always_inline void on_dev_queue(const struct sk_buff *skb)
{
	unsigned long nfct = skb->_nfct;
	struct net_device *dev = skb->dev;
	if (!dev || (nfct & NFCT_INFOMASK) != IP_CT_NEW)
		return;
	struct nf_conntrack_tuple_hash th[2];
	__u16 l3 = new_flow_to_service(nfct, th);
	if (!l3)
		return;
	__u32 netns = dev->nd_net.net->ns.inum;
	int in_ifindex = skb->skb_iif;
	if (in_ifindex && !skb->sk)
		record_unreplied(nfct, th, l3, netns, SVC_NAT_PRE_ROUTING, in_ifindex, 0, NULL); /* captured once, as it leaves */
	record_unreplied(nfct, th, l3, netns, SVC_NAT_POST_ROUTING, 0, dev->ifindex, network_header(skb));
}

/* A packet received, for kernels without BPF netfilter links, which see no reply otherwise: it meets
 * conntrack only after this, so the flow it answers is found by its headers (an ICMP error by the
 * packet it quotes). It runs for every packet the host receives: until a service flow is remembered,
 * and for anything but IP, it stops at its first reads. skb->data is the network header here (the
 * link layer is pulled, the network header not yet set). */
static __always_inline void on_receive(const struct sk_buff *skb)
{
	if (!awaiting_any || !is_ip(skb))
		return;
	const unsigned char *l3 = skb->data;
	struct reply_headers h = {};
	struct nf_conntrack_tuple_hash th[2];
	__u64 ct;
	if (!read_reply_headers(l3, true, &h) || !(ct = flow_of_reply(&h, th)))
		return;
	__u32 slot = 0;
	struct svc_awaiting_entry *v = awaiting(ct, th, &slot);
	struct net_device *dev = skb->dev;
	if (!v || !v->stamp || !dev)
		return;
	report_reply(v, slot, th, l3, h.icmp_error ? IP_CT_RELATED_REPLY : IP_CT_ESTABLISHED_REPLY,
		     dev->nd_net.net->ns.inum, dev->ifindex);
}
