/* Which route chose the source address for a service IP: the FIB lookups of connects to the CIDRs, and
 * of forwarded service flows after DNAT. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"
#include "lib/cidr.bpf.h"
#include "lib/conntrack.bpf.h"
#include "lib/passage.bpf.h"
#include "lib/awaiting.bpf.h"
#include "route_back.bpf.h"

/* ct: the conntrack entry of the forwarded flow this lookup is for, or 0 when the lookup is for a
 * service IP and the flow is its own. flp and nhc are BTF-typed in every route program (the raw
 * tracepoint's through kernel_view), so their fields are read directly; the fib_nh around nhc is read
 * as mode says. */
static __always_inline void record_route(__u32 tb_id, const struct flowi4 *flp,
					 const struct fib_nh_common *nhc, __u64 ct, enum read_mode mode)
{
	/* An unbound TCP connect() looks its route up twice: with no source port, then with the port it
	 * chose and the whole flow. The second tells all the first does. */
	if (!ct && flp->__fl_common.flowic_proto == IPPROTO_TCP && flp->uli.ports.sport == 0)
		return;
	struct net_device *dev = nhc->nhc_dev;
	__u32 netns = dev->nd_net.net->ns.inum;
	if (!wanted_netns(netns))
		return;
	/* A service flow is on its way: the drop program starts looking (drop.bpf.h). Its first packet
	 * may never reach the NAT hooks, which otherwise set this (conntrack's table full). */
	if (!awaiting_any)
		awaiting_any = 1;

	struct svc_event *e = begin_route_record(netns);
	if (!e)
		return;
	if (ct) {
		struct nf_conntrack_tuple_hash th[2];
		if (read_conn(ct, th))
			read_tuple(&e->tuple, &th[0].tuple);
	} else {
		fill_task(e);
		e->tuple.family = AF_INET;
		e->tuple.proto = flp->__fl_common.flowic_proto;
		put_v4(e->tuple.src, flp->saddr);
		put_v4(e->tuple.dst, flp->daddr);
		e->tuple.sport = bpf_ntohs(flp->uli.ports.sport);
		e->tuple.dport = bpf_ntohs(flp->uli.ports.dport);
	}

	e->route.table = tb_id;
	e->route.oif = dev->ifindex;
	e->route.iif = flp->__fl_common.flowic_iif;
	e->route.mark = flp->__fl_common.flowic_mark;
	e->route.scope = nhc->nhc_scope;
	e->route.gw_family = nhc->nhc_gw_family;
	if (e->route.gw_family == AF_INET)
		put_v4(e->route.gw, nhc->nhc_gw.ipv4);

	/* An IPv4 fib_nh_common is the first member of a struct fib_nh, whose fib_info parent has the
	 * route's "src"; nh_saddr is the address the kernel picks on this nexthop when it has none. */
	if (nhc->nhc_family == AF_INET) {
		const struct fib_nh *nh = kernel_ptr(mode, struct fib_nh, nhc);
		put_v4(e->route.nh_saddr, kernel_read(mode, nh, nh_saddr));
		put_v4(e->route.prefsrc, kernel_read(mode, nh, nh_parent, fib_prefsrc));
	}
	finish_route_record(e);
}

/* A lookup for a destination outside the CIDRs can still be a forwarded service flow's, for its DNAT
 * target. Telling costs one read of the per-CPU passage, armed by that flow's PRE_ROUTING just before
 * its lookup (in the same softirq, so on the same CPU). */
static __always_inline void route_of_forwarded(__u32 tb_id, const struct flowi4 *flp,
					       const struct fib_nh_common *nhc, __be32 daddr, __be32 saddr,
					       enum read_mode mode)
{
	struct in_passage *p = passage();
	if (!p || !expects_forwarded_route(p, daddr, saddr))
		return;
	p->backend = 0;
	record_route(tb_id, flp, nhc, p->ct, mode);
	/* Delivered to this host: it will not reach POST_ROUTING, where flows are remembered. */
	if (local_delivery(flp, nhc, mode))
		await_local_answer(p, p->ct);
}

/* Every IPv4 route program's work on a lookup: a service IP's route, a forwarded flow's, or, on a
 * backend, a SYN coming in and the route back for its SYN-ACK. Each program reads the addresses in
 * the cheapest way its type allows and passes them here, with its read_mode. */
static __always_inline void on_route_lookup(__u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc,
					    int err, __be32 daddr, __be32 saddr, enum read_mode mode)
{
	/* This first, as a CIDR may hold the clients as well: their SYN-ACK's lookup is no connect()'s. */
	if (in_service_cidrs_v4(saddr) && route_back(tb_id, flp, err ? NULL : nhc, err, daddr, saddr))
		return;
	if (err != 0 || !nhc)
		return;
	if (in_service_cidrs_v4(daddr)) {
		if (local_delivery(flp, nhc, mode))
			arm_inbound(flp, nhc); /* a packet for this host, not a connect(): no route to record */
		else
			record_route(tb_id, flp, nhc, 0, mode);
		return;
	}
	route_of_forwarded(tb_id, flp, nhc, daddr, saddr, mode);
}

/* An IPv6 lookup for a destination in the CIDRs. A miss reports the null entry, which has no nexthop
 * device and is not RTN_UNICAST. */
static __always_inline void on_route6_lookup(const struct net *net, const struct fib6_result *res,
					     const struct fib6_table *table, const struct flowi6 *flp)
{
	if (!res || !flp || res->fib6_type != RTN_UNICAST || !in_service_cidrs_v6(&flp->daddr))
		return;
	struct fib6_nh *nh = res->nh;
	struct fib6_info *f6i = res->f6i;
	if (!nh || !f6i)
		return;
	__u32 netns = net->ns.inum;
	if (!wanted_netns(netns))
		return;
	if (!awaiting_any)
		awaiting_any = 1; /* as in record_route */
	/* tcp_v6_connect() looks the route up only once, before it picks the port: that one is kept. It is
	 * sent at once even when flows are held (held.bpf.h): the port search in between may reschedule
	 * the task to another CPU (cond_resched), where its SYN would not find the record staged on this
	 * one. Userspace gives it to the next flow to that service IP. */
	struct svc_event *e = reserve_event(SVC_EV_ROUTE, netns);
	if (!e)
		return;
	fill_task(e);
	e->tuple.family = AF_INET6;
	e->tuple.proto = flp->__fl_common.flowic_proto;
	__builtin_memcpy(e->tuple.src, &flp->saddr, 16);
	__builtin_memcpy(e->tuple.dst, &flp->daddr, 16);
	e->tuple.sport = bpf_ntohs(flp->uli.ports.sport);
	e->tuple.dport = bpf_ntohs(flp->uli.ports.dport);
	e->route.table = table ? table->tb6_id : 0;
	struct net_device *dev = nh->nh_common.nhc_dev;
	e->route.oif = dev ? dev->ifindex : 0;
	e->route.iif = flp->__fl_common.flowic_iif;
	e->route.mark = flp->__fl_common.flowic_mark;
	e->route.scope = nh->nh_common.nhc_scope;
	e->route.gw_family = nh->nh_common.nhc_gw_family;
	if (e->route.gw_family == AF_INET6) {
		/* As four 4-byte loads: the gateway sits at an offset that is not 8-aligned in some kernels'
		 * fib_nh_common (6.1's), and the verifier there refuses the 8-byte loads a 16-byte copy
		 * compiles to. */
		const __u32 *gw = (const __u32 *)&nh->nh_common.nhc_gw.ipv6;
		__u32 *out = (__u32 *)e->route.gw;
		out[0] = gw[0];
		out[1] = gw[1];
		out[2] = gw[2];
		out[3] = gw[3];
	}
	__builtin_memcpy(e->route.prefsrc, &f6i->fib6_prefsrc.addr, 16);
	submit_event(e);
}
