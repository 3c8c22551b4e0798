/* At a backend: did the answer to a SYN find a route back to its sender?
 * svctrace run on a backend, with the backend's own addresses as the CIDRs, sees a SYN for a local
 * address routed in (an input lookup: its local route has a device, and so a namespace), then, on the
 * same CPU in the same softirq, the listener's lookup of the route for its SYN-ACK. When that lookup
 * fails it has no device either: the slot the first lookup armed says whose it is. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"

struct inbound_syn {
	__u64 ts;            /* 0 when the slot is empty */
	__be32 client;       /* the SYN's source */
	__be32 local;        /* its destination: an address of this host in the CIDRs */
	__u32 netns;
	__s32 ifindex;       /* the device it came in by */
	__u32 missed_table;  /* the first table the reply's lookup missed in; 0 before any miss */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inbound_syn);
} inbound_syns SEC(".maps");

/* An input lookup that delivers to this host: a packet for a local address came in (an output lookup
 * has lo as its iif; a forwarded packet's route is not local). */
static __always_inline bool local_delivery(const struct flowi4 *flp, const struct fib_nh_common *nhc,
					   enum read_mode mode)
{
	if (flp->__fl_common.flowic_iif <= LOOPBACK_IFINDEX || nhc->nhc_family != AF_INET)
		return false;
	return kernel_read(mode, kernel_ptr(mode, struct fib_nh, nhc), nh_parent, fib_type) == RTN_LOCAL;
}

static __always_inline void arm_inbound(const struct flowi4 *flp, const struct fib_nh_common *nhc)
{
	__u32 zero = 0;
	struct inbound_syn *slot = bpf_map_lookup_elem(&inbound_syns, &zero);
	if (!slot)
		return;
	slot->ts = bpf_ktime_get_ns();
	slot->client = flp->saddr;
	slot->local = flp->daddr;
	slot->netns = nhc->nhc_dev->nd_net.net->ns.inum;
	slot->ifindex = flp->__fl_common.flowic_iif;
	slot->missed_table = 0;
}

/* A lookup from an address in the CIDRs. It is the SYN-ACK's for the SYN in the slot when it is TCP
 * with both ports set (the kernel's own lookups in between, rp_filter's source check for one, have
 * none) and its addresses are the slot's swapped. Reports the first table it missed in, then a route
 * found later (in a later rule's table); a lookup that succeeds straight away costs no record.
 * Returns whether the lookup was that SYN-ACK's. err: the lookup's result. */
static __always_inline bool route_back(__u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc,
				       int err, __be32 daddr, __be32 saddr)
{
	if (flp->__fl_common.flowic_proto != IPPROTO_TCP)
		return false;
	__u16 sport = flp->uli.ports.sport, dport = flp->uli.ports.dport;
	if (!sport || !dport)
		return false;
	__u32 zero = 0;
	struct inbound_syn *slot = bpf_map_lookup_elem(&inbound_syns, &zero);
	if (!slot || !slot->ts || slot->client != daddr || slot->local != saddr)
		return false;
	/* Both lookups run in the SYN's softirq, microseconds apart; the margin allows for a guest's
	 * stolen time. */
	if (bpf_ktime_get_ns() - slot->ts > 20000000) { /* not this SYN's: that one was dropped */
		slot->ts = 0;
		return false;
	}
	bool found = err == 0;
	/* With policy rules the local table is looked up alone, first. It never has a route to a remote
	 * client, so a miss there means nothing. */
	if (!found && tb_id == RT_TABLE_LOCAL)
		return true;
	if (found)
		slot->ts = 0; /* the SYN-ACK has its route: this SYN has nothing more to show */
	if (found ? !slot->missed_table : slot->missed_table != 0)
		return true;
	if (!found)
		slot->missed_table = tb_id;
	if (!wanted_netns(slot->netns))
		return true;

	struct svc_event *e = reserve_event(SVC_EV_REPLY_ROUTE, slot->netns);
	if (!e)
		return true;
	e->tuple.family = AF_INET;
	e->tuple.proto = IPPROTO_TCP;
	put_v4(e->tuple.src, slot->client);
	put_v4(e->tuple.dst, slot->local);
	e->tuple.sport = bpf_ntohs(dport);
	e->tuple.dport = bpf_ntohs(sport);
	e->route.table = tb_id;
	e->route.iif = slot->ifindex;
	e->route.err = err;
	if (nhc) /* implied by found, but the verifier needs the test on the pointer itself */
		e->route.oif = nhc->nhc_dev->ifindex;
	submit_event(e);
	return true;
}
