/* Held flows: a healthy flow's records never leave the kernel.
 * Unless every flow is streamed (--all-flows, or the pre-6.4 fallback hooks, which see replies only
 * by their headers), a service flow's route record waits in a per-CPU slot (staged_route) until its
 * first packet reaches POST_ROUTING, and its NAT record is written there, both into a held slot
 * (struct svc_held_flow) that its awaiting_reply entry names, instead of the ring buffer. Each CPU
 * takes the slots of its own part of held_flows in turn, and a slot it comes round to with a flow
 * still unanswered in it is released first: that flow has waited as long as the table lets any wait,
 * as one pushed out of awaiting_reply has. Then:
 *   - its first reply is a SYN-ACK or a UDP answer: counted in service_counts (per service, backend
 *     and egress device, with the connect time), and nothing is sent;
 *   - it needs deciding (a retransmit, a drop, a RST or an ICMP error, eviction by another flow):
 *     its held records go to the ring buffer first, then the record of what happened, and from then
 *     on it is streamed as before: userspace sees the same records as with --all-flows, for the
 *     flows that failed only;
 *   - it stays unanswered: userspace, which maps the table, releases it after a while (a UDP query
 *     never sent again has no retransmit to release it).
 * A counted flow keeps its records in the slot until another flow takes it: a reply counted at
 * PRE_ROUTING may still be dropped after it (rp_filter drops in the input route lookup), and such a
 * drop takes the count back and releases the flow. */
#pragma once

#include "base.bpf.h"
#include "counters.bpf.h"
#include "ringbuf.bpf.h"
#include "conntrack.bpf.h"
#include "passage.bpf.h"
#include "packets.bpf.h"

/* Set to 0 by userspace to hold flows back; 1 streams every record as it happens. */
const volatile __u32 every_flow = 1;
/* The slots of each CPU's part of held_flows: CPU n's are n * held_per_cpu onwards. */
const volatile __u32 held_per_cpu = 1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* resized by userspace: held_per_cpu times the possible CPUs */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct svc_held_flow);
} held_flows SEC(".maps");

/* The next slot of this CPU's part of held_flows to take. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} held_cursor SEC(".maps");

/* An awaiting_reply entry's slot when it names none. */
#define NO_HELD_SLOT 0xffffffffu

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096); /* sized by userspace to the CPUs: a full map streams its new flows */
	__type(key, struct svc_service_key);
	__type(value, struct svc_service_counts);
} service_counts SEC(".maps");

/* The route record of this CPU's latest route lookup for a service flow (kind 0: none), until that
 * flow's first packet takes it. connect() looks the route up and sends the SYN in one system call, and
 * a forwarded flow's lookup runs between its PRE_ROUTING and POST_ROUTING in one softirq: both on one
 * CPU. The next lookup overwrites a record no packet took: most are lookups that start no flow (the
 * RST the kernel sends for a closed socket, a UDP packet of a flow answered already), which streaming
 * would make a record of each. A connected UDP socket that sends its first packet after another
 * lookup on its CPU loses its route record that way: its flow, if it fails, is diagnosed from the
 * routes the node has then. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct svc_event);
} staged_route SEC(".maps");

/* A reply counted this soon before a drop of the flow's reply direction was the dropped one. */
#define HELD_DROP_GRACE_NS 100000000

/* Flow ct's held slot, or NULL: none, or taken by another flow since. */
static __always_inline struct svc_held_flow *held_slot(__u32 slot, __u64 ct)
{
	if (every_flow || slot == NO_HELD_SLOT)
		return NULL;
	struct svc_held_flow *h = bpf_map_lookup_elem(&held_flows, &slot);
	return h && h->ct == ct ? h : NULL;
}

/* A copy of a record, sent to the ring buffer. */
static __always_inline void send_copy(const struct svc_event *rec)
{
	struct svc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SVC_CNT_RINGBUF_DROPS);
		return;
	}
	__builtin_memcpy(e, rec, sizeof(*e));
	submit_event(e);
}

/* One of a held flow's records, made by one of svctrace/events.h's svc_held_*_record, sent. */
#define send_held_record(make, h)                                                       \
	do {                                                                            \
		struct svc_event *e_ = bpf_ringbuf_reserve(&events, sizeof(*e_), 0);  \
		if (e_) {                                                               \
			make(e_, h);                                                    \
			submit_event(e_);                                               \
		} else {                                                                \
			count(SVC_CNT_RINGBUF_DROPS);                                   \
		}                                                                       \
	} while (0)

/* The flow (h, in slot) needs deciding: its held records go out, in the order they happened, and its
 * first packet with them (--pcap). */
static __always_inline void release_held(struct svc_held_flow *h, __u32 slot)
{
	if (h->state != SVC_HELD && h->state != SVC_HELD_COUNTED)
		return;
	h->state = SVC_HELD_RELEASED;
	count(SVC_CNT_HELD_RELEASED);
	if (h->ingress_ifindex)
		send_held_record(svc_ingress_record, h);
	if (h->has_route)
		send_held_record(svc_held_route_record, h);
	send_held_record(svc_held_nat_record, h);
	release_held_packet(slot);
}

/* A NAT record's fields for conntrack entry ct (th: its tuples) at a hook: ifindex is the device
 * (out at POST_ROUTING, in at PRE_ROUTING), route_ifindex LOCAL_OUT's. */
static __always_inline void fill_nat_record(struct svc_event *e, __u64 ct, const struct nf_conntrack_tuple_hash th[2],
					    __u32 hook, __s32 ifindex, __s32 route_ifindex)
{
	read_tuple(&e->tuple, &th[0].tuple);
	read_tuple(&e->nat.reply, &th[1].tuple);
	e->nat.hook = hook;
	e->nat.ct_status = BPF_CORE_READ((const struct nf_conn *)ct, status);
	e->nat.out_ifindex = ifindex;
	e->nat.route_ifindex = route_ifindex;
}

/* ---- the route record, staged ------------------------------------------------------------------- */

/* Where a route record is written: the ring buffer when every flow is streamed (send with
 * finish_route_record), else this CPU's staged slot. */
static __always_inline struct svc_event *begin_route_record(__u32 netns)
{
	if (every_flow)
		return reserve_event(SVC_EV_ROUTE, netns);
	__u32 zero = 0;
	struct svc_event *e = bpf_map_lookup_elem(&staged_route, &zero);
	if (!e)
		return NULL;
	begin_event(e, SVC_EV_ROUTE, netns);
	return e;
}

static __always_inline void finish_route_record(struct svc_event *e)
{
	if (every_flow)
		submit_event(e);
}

static __always_inline bool same_addr(const __u8 a[16], const __u8 b[16])
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline bool zero_addr(const __u8 a[16])
{
	const __u32 *x = (const __u32 *)a;
	return !(x[0] | x[1] | x[2] | x[3]);
}

/* Whether a staged route record (r) is the lookup of flow t; a lookup made before the port or the
 * source was picked matches too. */
static __always_inline bool route_of_flow(const struct svc_tuple *r, const struct svc_tuple *t)
{
	return r->family == t->family && r->proto == t->proto && r->dport == t->dport && same_addr(r->dst, t->dst) &&
	       (r->sport == t->sport || !r->sport) && (same_addr(r->src, t->src) || zero_addr(r->src));
}

/* The staged route record, when it is the flow's of h: moved into h (what svc_held_route_record
 * does not take from the flow's own fields). */
static __always_inline void take_staged_route(struct svc_held_flow *h)
{
	__u32 zero = 0;
	struct svc_event *r = bpf_map_lookup_elem(&staged_route, &zero);
	h->has_route = 0;
	if (!r || !r->kind || r->netns != h->netns || !route_of_flow(&r->tuple, &h->tuple))
		return;
	h->route_ts = r->ts_ns;
	h->route_pid = r->pid;
	h->route_sport = r->tuple.sport;
	__builtin_memcpy(h->route_src, r->tuple.src, 16);
	__builtin_memcpy(h->route_comm, r->comm, SVC_COMM_LEN);
	__builtin_memcpy(&h->route, &r->route, sizeof(h->route));
	h->has_route = 1;
	r->kind = 0;
}

/* A flow dropped before it reached POST_ROUTING: its staged route record goes out, if it is its. */
static __always_inline void release_staged_route(const struct svc_tuple *t, __u32 netns)
{
	__u32 zero = 0;
	struct svc_event *r = bpf_map_lookup_elem(&staged_route, &zero);
	if (!r || !r->kind || r->netns != netns || !route_of_flow(&r->tuple, t))
		return;
	send_copy(r);
	r->kind = 0;
}

/* ---- holding and releasing ---------------------------------------------------------------------- */

/* The next slot of this CPU's part of held_flows (its index in slot), released first if a flow still
 * unanswered holds it. Two programs nesting on one CPU (a softirq over a process's connect) can take
 * one slot: the first flow then loses its held records, and is followed by what its next packets
 * send. */
static __always_inline struct svc_held_flow *take_held_slot(__u32 *slot)
{
	__u32 zero = 0;
	__u32 *next = bpf_map_lookup_elem(&held_cursor, &zero);
	if (!next)
		return NULL;
	__u32 i = *next < held_per_cpu ? *next : 0;
	*next = i + 1 < held_per_cpu ? i + 1 : 0;
	*slot = bpf_get_smp_processor_id() * held_per_cpu + i;
	struct svc_held_flow *h = bpf_map_lookup_elem(&held_flows, slot);
	if (h && h->state == SVC_HELD)
		release_held(h, *slot);
	return h;
}

/* A new flow's first packet (its network header at l3) at POST_ROUTING, now (p: its passage, if this
 * CPU kept it): its records into its slot h, where they stay unless it needs deciding. Every field is
 * written: the slot held another flow before. */
static __always_inline void hold_flow(struct svc_held_flow *h, __u32 slot, __u64 ct,
				      const struct nf_conntrack_tuple_hash th[2], __u32 netns, __s32 out_ifindex,
				      __s32 route_ifindex, const struct in_passage *p, const unsigned char *l3,
				      __u64 now)
{
	h->netns = netns;
	h->ct = ct;
	h->left_ts = now;
	h->ingress_ts = p ? p->ts : 0;
	h->answered_ns = 0;
	read_tuple(&h->tuple, &th[0].tuple);
	read_tuple(&h->reply, &th[1].tuple);
	h->out_ifindex = out_ifindex;
	h->route_ifindex = route_ifindex;
	h->ct_status = BPF_CORE_READ((const struct nf_conn *)ct, status);
	h->ingress_ifindex = p ? p->ingress_ifindex : 0;
	take_staged_route(h);
	hold_packet(slot, l3, &h->tuple, netns, out_ifindex);
	h->state = SVC_HELD;
}

/* A flow that will not reach POST_ROUTING (dropped on the way, or delivered to this host): what its
 * passage held back goes out, its PRE_ROUTING record and its staged route record. */
static __always_inline void release_passage(const struct in_passage *p, __u64 ct,
					    const struct nf_conntrack_tuple_hash th[2], __u32 netns)
{
	if (every_flow)
		return;
	struct svc_tuple t = {};
	read_tuple(&t, &th[0].tuple);
	if (p->ingress_ifindex) {
		struct svc_event *e = reserve_event(SVC_EV_NAT, netns);
		if (e) {
			e->ts_ns = p->ts;
			fill_nat_record(e, ct, th, SVC_NAT_PRE_ROUTING, p->ingress_ifindex, 0);
			submit_event(e);
		}
	}
	release_staged_route(&t, netns);
}

/* ---- counting the answered ---------------------------------------------------------------------- */

static __always_inline __u32 log2_bucket(__u64 us)
{
	__u32 b = 0;
	if (us >> 16) { us >>= 16; b += 16; }
	if (us >> 8) { us >>= 8; b += 8; }
	if (us >> 4) { us >>= 4; b += 4; }
	if (us >> 2) { us >>= 2; b += 2; }
	if (us >> 1) b += 1;
	return b < SVC_CONNECT_BUCKETS ? b : SVC_CONNECT_BUCKETS - 1;
}

static __always_inline void service_key_of(const struct svc_held_flow *h, struct svc_service_key *k)
{
	k->netns = h->netns;
	k->egress_ifindex = h->out_ifindex;
	k->family = h->tuple.family;
	k->proto = h->tuple.proto;
	k->service_port = h->tuple.dport;
	k->backend_port = h->reply.sport;
	k->forwarded = h->ingress_ifindex != 0;
	__builtin_memcpy(k->service, h->tuple.dst, 16);
	__builtin_memcpy(k->backend, h->reply.src, 16);
}

/* The flow's counts on this CPU, made if need be; NULL when the map is full. */
static __always_inline struct svc_service_counts *counts_of(const struct svc_held_flow *h)
{
	struct svc_service_key k = {};
	service_key_of(h, &k);
	struct svc_service_counts *c = bpf_map_lookup_elem(&service_counts, &k);
	if (c)
		return c;
	static const struct svc_service_counts zero;
	bpf_map_update_elem(&service_counts, &k, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&service_counts, &k);
}

static __always_inline __u32 connect_bucket(const struct svc_held_flow *h, __u64 reply_ns)
{
	__u64 first = h->ingress_ts ? h->ingress_ts : h->left_ts;
	return log2_bucket(reply_ns > first ? (reply_ns - first) / 1000 : 0);
}

/* A held flow's first reply is an answer (SYN-ACK, UDP): counted, its records kept in the slot.
 * False when there is no room to count it: the caller streams it instead. */
static __always_inline bool count_answered(struct svc_held_flow *h, __u64 now)
{
	struct svc_service_counts *c = counts_of(h);
	if (!c) {
		count(SVC_CNT_COUNTED_FULL);
		return false;
	}
	__u32 b = connect_bucket(h, now);
	c->answered++;
	if (b < SVC_CONNECT_BUCKETS)
		c->connect_us_log2[b]++;
	h->answered_ns = now;
	h->state = SVC_HELD_COUNTED;
	return true;
}

/* The counted reply was dropped after all: the count is taken back (on this CPU; userspace sums them
 * all) and the flow (h, in slot) released. */
static __always_inline void uncount_answered(struct svc_held_flow *h, __u32 slot)
{
	struct svc_service_counts *c = counts_of(h);
	if (c) {
		__u32 b = connect_bucket(h, h->answered_ns);
		c->answered--;
		if (b < SVC_CONNECT_BUCKETS)
			c->connect_us_log2[b]--;
	}
	release_held(h, slot);
}

/* A drop of a packet of flow ct, its held slot slot: whether to report it. A held flow is released
 * first; a counted one was healthy, unless it is its reply that was dropped just after it was
 * counted. */
static __always_inline bool drop_worth_reporting(__u32 slot, __u64 ct, bool reply_direction)
{
	struct svc_held_flow *h = held_slot(slot, ct);
	if (!h)
		return true;
	if (h->state == SVC_HELD) {
		release_held(h, slot);
	} else if (h->state == SVC_HELD_COUNTED) {
		if (!reply_direction || bpf_ktime_get_ns() - h->answered_ns > HELD_DROP_GRACE_NS)
			return false;
		uncount_answered(h, slot);
	}
	return true;
}
