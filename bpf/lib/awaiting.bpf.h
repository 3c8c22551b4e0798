/* awaiting_reply: the flows to the CIDRs that have left and seen no reply yet. */
#pragma once

#include "base.bpf.h"
#include "counters.bpf.h"
#include "conntrack.bpf.h"
#include "held.bpf.h"

/* 0 until the first service flow passes a NAT hook: until then replies and drops cost no lookup, and a
 * tracer whose CIDRs match nothing costs the node's replies one load. */
__u32 awaiting_any = 0;

/* Set once a forwarded service flow is delivered to this host (its DNAT target is one of the host's
 * addresses, as for a pod calling the API server on a control-plane node). Its answer starts here and
 * leaves by LOCAL_OUT, which from then on looks at replies as well. */
__u32 local_answers_awaited = 0;

/* Flows are found by a hash of the tuple their replies carry on the wire (conntrack's reply tuple, final
 * once SNAT is done at POST_ROUTING). Every path can compute it: the reply and drop hooks from the
 * packet's conntrack entry, and the drop hook, for a reply conntrack found INVALID and left without
 * one, from the packet's headers.
 * Buckets in an array, not a hash map: inserting into a hash map cost about 500 ns per flow on the build
 * machines (bench: nat_post_routing with and without it), most of what a service flow cost, and a
 * bucket is one cache line. A bucket holds SVC_AWAITING_WAYS entries; a new flow takes a free or an
 * answered one, or else evicts the oldest (counted). With two ways, a table a third full already
 * evicted 5 % of its flows.
 * No lock: two CPUs writing one entry at the same instant can leave one flow's tag beside the other's
 * conntrack entry, and then the reply and drop hooks match neither (the drop hook's lookup by headers
 * also checks the entry's tuple). A lock would need bpf_spin_lock in the netfilter programs, and the
 * drop hook, a tracing program, cannot share one. Such a race can also skew the counters.
 * Entries are struct svc_awaiting_entry (svctrace/events.h): userspace maps the table to find the
 * held flows left unanswered (held.bpf.h). */

struct awaiting_bucket {
	struct svc_awaiting_entry e[SVC_AWAITING_WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384); /* resized by userspace before load: --max-flows / 4, a power of two */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct awaiting_bucket);
} awaiting_reply SEC(".maps");

const volatile __u32 bucket_mask = 16383; /* max_entries - 1, set along with it */

static __always_inline __u64 mix(__u64 h, __u64 word)
{
	h = (h ^ word) * 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

/* The hash of a reply tuple: the addresses as in the packet (IPv4 in the first word), both ports as on
 * the wire, the protocol. The same from a conntrack tuple as from a packet's headers. */
static __always_inline __u64 reply_hash(__u16 family, __u8 proto, const __u32 src[4], const __u32 dst[4],
					__u16 sport_be, __u16 dport_be)
{
	__u64 h = mix(family, proto);
	h = mix(h, (__u64)sport_be << 16 | dport_be);
	h = mix(h, (__u64)src[0] << 32 | dst[0]);
	if (family == AF_INET6) {
		h = mix(h, (__u64)src[1] << 32 | dst[1]);
		h = mix(h, (__u64)src[2] << 32 | dst[2]);
		h = mix(h, (__u64)src[3] << 32 | dst[3]);
	}
	return h;
}

/* The reply hash of a conntrack entry's tuples, as read_conn copies them. */
static __always_inline __u64 conn_reply_hash(const struct nf_conntrack_tuple_hash th[2])
{
	const struct nf_conntrack_tuple *r = &th[1].tuple;
	return reply_hash(r->src.l3num, r->dst.protonum, r->src.u3.all, r->dst.u3.all, r->src.u.all, r->dst.u.all);
}

/* 16 bits, so that an entry is 16 bytes with the held slot it names. Two flows of one tag are told
 * apart by their conntrack entries; looked up by a packet's headers (reply_lookup.bpf.h), one of two
 * such flows in a bucket can hide the other, about one lookup in 10,000. */
static __always_inline __u16 tag_of(__u64 hash)
{
	return (__u16)hash | 1; /* never 0, which a free entry has */
}

static __always_inline __u32 bucket_index(__u64 hash)
{
	return (hash >> 32) & bucket_mask;
}

static __always_inline struct awaiting_bucket *bucket_of(__u64 hash)
{
	__u32 i = bucket_index(hash);
	return bpf_map_lookup_elem(&awaiting_reply, &i);
}

/* Flow ct's entry under this reply hash, answered or not; NULL when there is none. slot: the held slot
 * it names, NO_HELD_SLOT for none (held.bpf.h's held_slot checks it is still the flow's). */
static __always_inline struct svc_awaiting_entry *find_awaiting(__u64 hash, __u64 ct, __u32 *slot)
{
	struct awaiting_bucket *b = bucket_of(hash);
	if (!b)
		return NULL;
	__u32 tag = tag_of(hash);
#pragma unroll
	for (int i = 0; i < SVC_AWAITING_WAYS; i++)
		if (b->e[i].tag == tag && b->e[i].ct == ct) {
			*slot = b->e[i].held - 1; /* 0 - 1 is NO_HELD_SLOT */
			return &b->e[i];
		}
	return NULL;
}

/* Flow ct's entry, th being its tuples (read_conn), or NULL: never remembered, evicted since, or a
 * remembered entry of an earlier flow with the same tuple. */
static __always_inline struct svc_awaiting_entry *awaiting(__u64 ct, const struct nf_conntrack_tuple_hash th[2],
						       __u32 *slot)
{
	return find_awaiting(conn_reply_hash(th), ct, slot);
}

/* An entry's first reply was seen: it stays, answered, and is the first to give way to a new flow. */
static __always_inline void mark_answered(struct svc_awaiting_entry *e)
{
	e->stamp = 0;
	count(SVC_CNT_AWAITING_REPLIED);
}

/* How readily an entry makes room for a new flow, lowest first: free, then answered, then oldest (of
 * those remembered in the last 69 s: the stamp's clock wraps). */
static __always_inline __u32 rank(const struct svc_awaiting_entry *e, __u16 now)
{
	if (!e->ct)
		return 0;
	if (!e->stamp)
		return 1;
	return (__u32)2 << 16 | (__u16)(0xffffu - (__u16)(now - e->stamp)); /* the older, the lower */
}

/* What remember() did with a leaving packet's flow. */
enum remembered {
	REMEMBER_FAILED = 0,  /* no bucket */
	REMEMBERED_NEW,       /* a new flow: *held is its entry's held slot, none yet (0) */
	REMEMBERED_AGAIN,     /* a packet of a flow still awaiting its reply: a retransmit; *slot is
				 its held slot, or NO_HELD_SLOT */
};

/* Entry e is a new flow's from now: stamped, naming no held slot yet; held: where the caller names
 * it. */
static __always_inline enum remembered take_entry(struct svc_awaiting_entry *e, __u16 now, __u32 **held)
{
	e->stamp = now;
	e->held = 0;
	*held = &e->held;
	count(SVC_CNT_AWAITING_INSERTS);
	return REMEMBERED_NEW;
}

/* Puts the flow of a leaving packet (POST_ROUTING) into awaiting_reply, unless it is already there
 * (a retransmit). now_ns: bpf_ktime_get_ns(). held: where the new flow's held slot is to be named
 * (held.bpf.h, the slot + 1). A flow it pushes out unanswered has its held records sent first: it will
 * be decided by userspace's clock. */
static __always_inline enum remembered remember(__u64 ct, __u64 hash, __u64 now_ns, __u32 *slot, __u32 **held)
{
	struct awaiting_bucket *b = bucket_of(hash);
	if (!b)
		return REMEMBER_FAILED;
	__u16 tag = tag_of(hash);
	__u16 now = (__u16)(now_ns >> SVC_STAMP_SHIFT) | 1;
	struct svc_awaiting_entry *victim = &b->e[0];
#pragma unroll
	for (int i = 0; i < SVC_AWAITING_WAYS; i++) {
		struct svc_awaiting_entry *e = &b->e[i];
		if (e->tag == tag && e->ct == ct) {
			if (e->stamp) {
				*slot = e->held - 1;
				return REMEMBERED_AGAIN;
			}
			/* Answered: a new flow in a recycled conntrack entry with the same tuple (this
			 * packet's entry is NEW: it has had no reply). */
			return take_entry(e, now, held);
		}
		/* stamps compared as a clock that wraps */
		if (rank(e, now) < rank(victim, now))
			victim = e;
	}
	if (victim->stamp) {
		count(SVC_CNT_AWAITING_EVICTED);
		__u32 victim_slot = victim->held - 1;
		struct svc_held_flow *h = held_slot(victim_slot, victim->ct);
		if (h)
			release_held(h, victim_slot);
	}
	victim->ct = ct;
	victim->tag = tag;
	return take_entry(victim, now, held);
}

/* A forwarded flow delivered to this host (p: its passage): its answer will leave by LOCAL_OUT, never
 * by POST_ROUTING, where flows are otherwise remembered and held. It is streamed. */
static __always_inline void await_local_answer(const struct in_passage *p, __u64 ct)
{
	struct nf_conntrack_tuple_hash th[2];
	__u32 slot;
	if (!read_conn(ct, th))
		return;
	release_passage(p, ct, th, BPF_CORE_READ((const struct nf_conn *)ct, ct_net.net, ns.inum));
	/* It names no held slot: its records were sent as they happened. */
	__u32 *held;
	remember(ct, conn_reply_hash(th), bpf_ktime_get_ns(), &slot, &held);
	if (!local_answers_awaited)
		local_answers_awaited = 1;
}
