/* The records: reserved in the ring buffer, filled, submitted; only for the network namespace asked
 * for. */
#pragma once

#include "base.bpf.h"
#include "counters.bpf.h"

/* Set by userspace between open and load. 0 = every network namespace. */
const volatile __u32 target_netns = 0;
/* Wake the reader only once this many more bytes wait in the ring (0: after every record, the
 * kernel's default). The reader polls with a short timeout and drains what is there, so no record
 * waits longer than that; waking it per record cost a context switch per event, and the producer an
 * irq_work, which is an IPI (a VM exit in a guest). */
const volatile __u32 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by userspace before load */
} events SEC(".maps");

static __always_inline bool wanted_netns(__u32 netns)
{
	return target_netns == 0 || netns == target_netns;
}

/* A record started: zeroed (a ring buffer's or a map's memory is as it was left), stamped now. */
static __always_inline void begin_event(struct svc_event *e, __u32 kind, __u32 netns)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->netns = netns;
}

/* A started record in the ring buffer (begin_event), or NULL with the loss counted. */
static __always_inline struct svc_event *reserve_event(__u32 kind, __u32 netns)
{
	struct svc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SVC_CNT_RINGBUF_DROPS);
		return NULL;
	}
	begin_event(e, kind, netns);
	return e;
}

/* Submits a reserved record of size bytes. */
static __always_inline void submit_record(void *rec, __u64 size)
{
	__u64 flags = 0;
	if (wakeup_bytes) {
		/* Wake the reader when what waits crosses a multiple of wakeup_bytes, so at most once per
		 * wakeup_bytes of records. A crossing lost to a race with another CPU is caught at the next
		 * one, or by the reader's poll timeout. */
		__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		__u64 before = avail > size ? avail - size : 0;
		flags = avail / wakeup_bytes != before / wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	}
	bpf_ringbuf_submit(rec, flags);
	count(SVC_CNT_EVENTS);
}

static __always_inline void submit_event(struct svc_event *e)
{
	submit_record(e, sizeof(*e));
}

/* The current task, for records made in the context of the process that connects. */
static __always_inline void fill_task(struct svc_event *e)
{
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}
