/* Per-CPU counters (enum svc_counter in svctrace/events.h), summed by userspace: what was lost,
 * evicted or unreadable, which no event can say. */
#pragma once

#include "base.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SVC_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);
	if (c)
		(*c)++;
}
