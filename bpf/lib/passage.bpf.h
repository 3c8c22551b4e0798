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
	__be32 backend;        /* a forwarded flow's DNAT target, until its input route lookup */
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

/* A passage takes microseconds; a slot older than this belongs to a packet dropped on the way. */
#define PASSAGE_NS 1000000

static __always_inline struct in_passage *passage(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&passages, &zero);
}

/* The passage of ct's packet on this CPU, or NULL. */
static __always_inline struct in_passage *passage_of(__u64 ct)
{
	struct in_passage *p = passage();
	if (!p || !ct || p->ct != ct || bpf_ktime_get_ns() - p->ts > PASSAGE_NS)
		return NULL;
	return p;
}

static __always_inline void begin_passage(__u64 ct, __s32 route_ifindex, __be32 backend)
{
	struct in_passage *p = passage();
	if (!p)
		return;
	p->ct = ct;
	p->ts = bpf_ktime_get_ns();
	p->route_ifindex = route_ifindex;
	p->backend = backend;
}
