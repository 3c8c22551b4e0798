/* A per-CPU slot for one service flow's packet crossing this host. Its first hook (LOCAL_OUT, or
 * PRE_ROUTING when the flow is forwarded) and POST_ROUTING run one after the other, in one call, on one
 * CPU; the slot carries between them what the later programs cannot see for themselves: the device of
 * the route to the service IP before the re-route (for POST_ROUTING), the DNAT target a forwarded
 * flow's input route lookup will be for, and, for the drop hook, that a packet dropped between the two
 * (a REJECT in OUTPUT, a DROP in FORWARD) is a service flow's although it is not in awaiting_reply
 * yet. */
#pragma once

#include "base.bpf.h"

struct in_passage {
	__u64 ct;              /* its conntrack entry; 0 when empty */
	__u64 ts;
	__s32 route_ifindex;   /* the device at LOCAL_OUT */
	/* A forwarded flow's input route lookup to come, known by what it looks up: the DNAT target
	 * (0 once seen) from the flow's source. */
	__be32 backend;
	__be32 source;
	/* A forwarded flow's PRE_ROUTING, for its held record (held.bpf.h): the device it came in by
	 * (0: it did not come in); ts is when. */
	__s32 ingress_ifindex;
	/* Best effort: a softirq that handles another service flow's packet between a process's
	 * LOCAL_OUT and POST_ROUTING takes the slot, as does a migration on a preemptible kernel; that
	 * POST_ROUTING event then has no LOCAL_OUT device (route_ifindex 0). */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct in_passage);
} passages SEC(".maps");

/* A passage takes microseconds; a slot older than this belongs to a packet dropped on the way. Generous,
 * as the slot is matched by its conntrack entry as well: a preempted process, or an emulated vCPU
 * standing still, can take milliseconds between LOCAL_OUT and POST_ROUTING. */
#define PASSAGE_NS 50000000

static __always_inline struct in_passage *passage(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&passages, &zero);
}

/* The passage of ct's packet on this CPU, or NULL; now: bpf_ktime_get_ns(). */
static __always_inline struct in_passage *passage_of(__u64 ct, __u64 now)
{
	struct in_passage *p = passage();
	if (!p || !ct || p->ct != ct || now - p->ts > PASSAGE_NS)
		return NULL;
	return p;
}

static __always_inline struct in_passage *begin_passage(__u64 ct, __s32 route_ifindex)
{
	struct in_passage *p = passage();
	if (!p)
		return NULL;
	p->ct = ct;
	p->ts = bpf_ktime_get_ns();
	p->route_ifindex = route_ifindex;
	p->backend = 0;
	p->ingress_ifindex = 0;
	return p;
}

/* At PRE_ROUTING, for IPv4: the input route lookup that follows, on this CPU, is this flow's. */
static __always_inline struct in_passage *expect_forwarded_route(__u64 ct, __be32 backend, __be32 source)
{
	struct in_passage *p = begin_passage(ct, 0);
	if (!p)
		return NULL;
	p->backend = backend;
	p->source = source;
	return p;
}

/* Whether an input route lookup (to daddr from saddr) is the one the passage expects. The addresses
 * name the flow, so no age is asked of the slot: a lookup that matches a slot left by a packet dropped
 * on the way is for the same flow's next packet. (An age limit made the match fail under qemu's
 * emulation, where a vCPU can stand still between PRE_ROUTING and the lookup for longer than the
 * limit.) The device it came in by is not compared: a VRF's PRE_ROUTING runs again with the VRF
 * device, the lookup has the enslaved one. */
static __always_inline bool expects_forwarded_route(const struct in_passage *p, __be32 daddr, __be32 saddr)
{
	return p->ct && p->backend && p->backend == daddr && p->source == saddr;
}
