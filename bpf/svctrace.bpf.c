// SPDX-License-Identifier: GPL-2.0
/* svctrace's kernel side. Every program starts with the same cheap test (is the flow's original
 * destination in the service CIDRs?) and returns at once when it is not; only flows to a service
 * touch the ring buffer. Programs, by the question each answers:
 *   route_*     which route chose the source for a service IP (FIB lookup); on a backend,
 *               whether the answer to a SYN found a route back
 *   nat_*       what conntrack DNAT'd/SNAT'd it to, and which device it really leaves through
 *   tcp_*       whether the SYN was answered, refused, or retransmitted
 * Records are struct svc_event (include/svctrace/events.h), shared with the C++ side. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "svctrace/events.h"

#define AF_INET 2
#define AF_INET6 10
#define RTN_UNICAST 1
#define IPPROTO_ICMPV6_ 58
#define TCP_SYN_SENT 2
#define NF_ACCEPT 1
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
/* enum ip_conntrack_info, as kept in skb->_nfct */
#define IP_CT_NEW 2               /* original direction, no reply seen yet */
#define IP_CT_ESTABLISHED_REPLY 3 /* reply direction */
#define IP_CT_RELATED_REPLY 4     /* an ICMP error about the flow, in the reply direction */
#define NFCT_INFOMASK 7UL /* skb->_nfct keeps ctinfo in its low 3 bits */

char LICENSE[] SEC("license") = "GPL";

/* A typed, read-only view of a kernel object the program holds only as a number or as another type
 * (a raw tracepoint's arguments, a fib_nh_common that heads a fib_nh, a sock that is an inet_sock;
 * not conntrack's entry: see read_conn). The verifier
 * then lets its fields be read with plain loads, each made fault-safe by the JIT, instead of one
 * bpf_probe_read_kernel() call per field: most of what a service flow's packet cost. The kfunc is
 * inlined to a register move (6.2+). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define kernel_view(type, addr) ((const type *)bpf_rdonly_cast((const void *)(addr), bpf_core_type_id_kernel(type)))

/* Set by userspace between open and load. 0 = every network namespace. */
const volatile __u32 target_netns = 0;
/* Wake the reader only as this much more is waiting in the ring buffer (0: at every record, the
 * kernel's default). Userspace polls with a short timeout and reads whatever is there, so a record
 * never waits longer than that; a wakeup per record cost a context switch per event, and the
 * producer an irq_work (an IPI, a VM exit in a guest). */
const volatile __u32 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__type(key, struct svc_cidr_key);
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} service_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* resized by userspace before load */
} events SEC(".maps");

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

/* The CIDRs as constants (set by userspace before load, so the verifier knows them and prunes the
 * unused slots): n_v4 <= SVC_INLINE_V4 prefixes are tested inline, more than that means "ask the
 * trie". Same for IPv6, as four words. Network byte order throughout. */
const volatile __u32 n_v4 = SVC_INLINE_V4 + 1;
const volatile __u32 v4_net[SVC_INLINE_V4] = {};
const volatile __u32 v4_mask[SVC_INLINE_V4] = {};
const volatile __u32 n_v6 = SVC_INLINE_V6 + 1;
const volatile __u32 v6_net[SVC_INLINE_V6][4] = {};
const volatile __u32 v6_mask[SVC_INLINE_V6][4] = {};

static __always_inline bool in_service_cidrs_v4(__be32 daddr)
{
	if (n_v4 <= SVC_INLINE_V4) {
#pragma unroll
		for (int i = 0; i < SVC_INLINE_V4; i++) {
			if (i >= n_v4)
				return false;
			if ((daddr & v4_mask[i]) == v4_net[i])
				return true;
		}
		return false;
	}
	struct svc_cidr_key key = { .prefixlen = 128 };
	key.addr[10] = 0xff;
	key.addr[11] = 0xff;
	__builtin_memcpy(&key.addr[12], &daddr, 4);
	return bpf_map_lookup_elem(&service_cidrs, &key) != NULL;
}

static __always_inline bool in_service_cidrs_v6(const struct in6_addr *daddr)
{
	__u32 w[4];
	__builtin_memcpy(w, daddr, 16);
	/* An IPv4-mapped address (an IPv6 socket connecting to IPv4) matches the IPv4 CIDRs too, as in
	 * the trie, where they are kept mapped. */
	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0xffff) && in_service_cidrs_v4(w[3]))
		return true;
	if (n_v6 <= SVC_INLINE_V6) {
#pragma unroll
		for (int i = 0; i < SVC_INLINE_V6; i++) {
			if (i >= n_v6)
				return false;
			if ((w[0] & v6_mask[i][0]) == v6_net[i][0] && (w[1] & v6_mask[i][1]) == v6_net[i][1] &&
			    (w[2] & v6_mask[i][2]) == v6_net[i][2] && (w[3] & v6_mask[i][3]) == v6_net[i][3])
				return true;
		}
		return false;
	}
	struct svc_cidr_key key = { .prefixlen = 128 };
	__builtin_memcpy(key.addr, daddr, 16);
	return bpf_map_lookup_elem(&service_cidrs, &key) != NULL;
}

static __always_inline bool wanted_netns(__u32 netns)
{
	return target_netns == 0 || netns == target_netns;
}

static __always_inline void put_v4(__u8 *dst16, __be32 addr)
{
	__builtin_memcpy(dst16, &addr, 4);
}

/* Reserve a zeroed record (bpf_ringbuf_reserve does not clear memory); counts the loss on failure. */
static __always_inline struct svc_event *reserve_event(__u32 kind, __u32 netns)
{
	struct svc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SVC_CNT_RINGBUF_DROPS);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->kind = kind;
	e->netns = netns;
	return e;
}

static __always_inline void submit_event(struct svc_event *e)
{
	__u64 flags = 0;
	if (wakeup_bytes) {
		/* Wake the reader each time what waits crosses a multiple of wakeup_bytes: one wakeup per
		 * wakeup_bytes of records at most, and a crossing missed in a race with another CPU is made
		 * up at the next one (or by the reader's poll timeout). */
		__u64 avail = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
		__u64 before = avail > sizeof(*e) ? avail - sizeof(*e) : 0;
		flags = avail / wakeup_bytes != before / wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	}
	bpf_ringbuf_submit(e, flags);
	count(SVC_CNT_EVENTS);
}

static __always_inline void fill_task(struct svc_event *e)
{
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

/* ---- a service flow's packet on its way through this host ---------------------------------- */

/* Set once the first service flow passes a NAT hook: until then, replies and drops need no map lookup
 * (a tracer whose CIDRs match nothing costs the node's replies one load). */
__u32 awaiting_any = 0;

/* Set once a forwarded service flow is delivered to this host (its DNAT target is a local address, as
 * for a pod calling the API server on a control-plane node): its answer starts here and leaves by
 * LOCAL_OUT, which from then on looks at replies too. */
__u32 local_answers_awaited = 0;

/* A service flow's packet between its first hook (LOCAL_OUT, or PRE_ROUTING for a forwarded flow) and
 * POST_ROUTING, which follow each other in one call on one CPU: what the first hook tells the last (the
 * device of the route to the service IP, before the re-route), what the input route lookup of a
 * forwarded flow needs to recognise it, and what lets the drop hook see a packet dropped in between
 * (a REJECT in OUTPUT, a DROP in FORWARD) before the flow is in awaiting_reply. */
struct in_passage {
	__u64 ct;              /* its conntrack entry; 0 when empty */
	__u64 ts;
	__s32 route_ifindex;   /* LOCAL_OUT's device */
	__be32 backend;        /* a forwarded flow's DNAT target, until its input route lookup */
	/* Not proof against everything: a softirq handling another service flow's packet between a
	 * process's LOCAL_OUT and POST_ROUTING, or (on a preemptible kernel) a migration, takes the slot,
	 * and the POST_ROUTING event then has no LOCAL_OUT device (route_ifindex 0). */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct in_passage);
} passages SEC(".maps");

#define PASSAGE_NS 1000000 /* a passage is microseconds long; older is a packet dropped meanwhile */

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

/* ---- route decision ---------------------------------------------------------------------------- */

static __always_inline void read_tuple(struct svc_tuple *t, const struct nf_conntrack_tuple *ct_tuple);
static __always_inline bool read_conn(__u64 ct, struct nf_conntrack_tuple_hash th[2]);
static __always_inline bool local_delivery(const struct flowi4 *flp, const struct fib_nh_common *nhc);
static __always_inline void await_local_answer(__u64 ct);

/* ct: the conntrack entry of a forwarded flow whose lookup this is, or 0 for a lookup for a service
 * IP (the flow is then the lookup's own). flp and nhc are read directly: BTF-typed in every route
 * program (the raw tracepoint's through kernel_view). */
static __always_inline void record_route(__u32 tb_id, const struct flowi4 *flp,
					 const struct fib_nh_common *nhc, __u64 ct)
{
	/* An unbound TCP connect() looks the route up twice: first with no port, then again once the
	 * port is chosen, with the whole flow. The second says everything the first does. */
	if (!ct && flp->__fl_common.flowic_proto == IPPROTO_TCP && flp->uli.ports.sport == 0)
		return;
	struct net_device *dev = nhc->nhc_dev;
	__u32 netns = dev->nd_net.net->ns.inum;
	if (!wanted_netns(netns))
		return;

	struct svc_event *e = reserve_event(SVC_EV_ROUTE, netns);
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

	/* An IPv4 fib_nh_common is the head of a struct fib_nh, whose parent fib_info holds the
	 * route's "src"; nh_saddr is the address the kernel picks on this nexthop when there is none. */
	if (nhc->nhc_family == AF_INET) {
		const struct fib_nh *nh = kernel_view(struct fib_nh, nhc);
		put_v4(e->route.nh_saddr, nh->nh_saddr);
		put_v4(e->route.prefsrc, nh->nh_parent->fib_prefsrc);
	}
	submit_event(e);
}

/* A lookup whose destination is not in the CIDRs may still be a forwarded service flow's, for its
 * DNAT target: one per-CPU slot read (in_passage), armed between that flow's PRE_ROUTING and its
 * lookup. */
static __always_inline void route_of_forwarded(__u32 tb_id, const struct flowi4 *flp,
					       const struct fib_nh_common *nhc, __be32 daddr)
{
	struct in_passage *p = passage();
	if (!p || !p->ct || !p->backend || p->backend != daddr)
		return;
	p->backend = 0;
	if (bpf_ktime_get_ns() - p->ts > PASSAGE_NS) /* not this packet's: it was dropped meanwhile */
		return;
	record_route(tb_id, flp, nhc, p->ct);
	/* Delivered here: it never reaches POST_ROUTING, where flows are remembered. */
	if (local_delivery(flp, nhc))
		await_local_answer(p->ct);
}

/* ---- at a backend: the route back to a SYN's sender ---------------------------------------------- */

/* Run on a backend with its addresses as the CIDRs, svctrace sees a SYN for a local address routed in
 * (an input lookup, whose local route has a device and so a namespace), and then, on the same CPU in
 * the same softirq, the listener's lookup of the route for its SYN-ACK. When that one fails it has no
 * device: this slot, armed by the first lookup, says whose it is. */
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

#define LOOPBACK_IFINDEX 1 /* the iif of every output lookup */
#define RTN_LOCAL 2
#define RT_TABLE_LOCAL_ 255

/* An input lookup that delivers here: a packet for a local address came in (not an output lookup,
 * whose iif is lo, nor one being forwarded). */
static __always_inline bool local_delivery(const struct flowi4 *flp, const struct fib_nh_common *nhc)
{
	if (flp->__fl_common.flowic_iif <= LOOPBACK_IFINDEX || nhc->nhc_family != AF_INET)
		return false;
	return kernel_view(struct fib_nh, nhc)->nh_parent->fib_type == RTN_LOCAL;
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

/* A lookup from an address in the CIDRs: the SYN-ACK's for the SYN in the slot, if it is TCP with both
 * ports (the kernel's own lookups in between, such as rp_filter's source check, have none) and the
 * addresses are the slot's reversed. Reports the first table it missed in, and a route found after that
 * (a later rule's table); a lookup that succeeds at once costs no record. Returns whether the lookup
 * was that SYN-ACK's. err: the lookup's. */
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
	/* Within the SYN's own softirq, microseconds apart; the margin is for a guest's stolen time. */
	if (bpf_ktime_get_ns() - slot->ts > 20000000) { /* not this SYN's: it was dropped meanwhile */
		slot->ts = 0;
		return false;
	}
	bool found = err == 0;
	/* With policy rules the local table is looked up on its own first: it never holds a route to a
	 * remote client, so missing there says nothing. */
	if (!found && tb_id == RT_TABLE_LOCAL_)
		return true;
	if (found)
		slot->ts = 0; /* the SYN-ACK has its route: nothing more to see for this SYN */
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
	if (nhc) /* (found implies it, but the verifier must see the test on the pointer itself) */
		e->route.oif = nhc->nhc_dev->ifindex;
	submit_event(e);
	return true;
}

/* What every route program does with a lookup: a service IP's route, a forwarded flow's, or on a
 * backend, a SYN coming in and the route back for its SYN-ACK. The wrappers read the addresses, each
 * the cheapest way its program type can. */
static __always_inline void on_route_lookup(__u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc,
					    int err, __be32 daddr, __be32 saddr)
{
	/* First, as a CIDR may hold the clients too: their SYN-ACK's lookup is not a connect()'s. */
	if (in_service_cidrs_v4(saddr) && route_back(tb_id, flp, err ? NULL : nhc, err, daddr, saddr))
		return;
	if (err != 0 || !nhc)
		return;
	if (in_service_cidrs_v4(daddr)) {
		if (local_delivery(flp, nhc))
			arm_inbound(flp, nhc); /* a packet for this host: no route of a connect() to record */
		else
			record_route(tb_id, flp, nhc, 0);
		return;
	}
	route_of_forwarded(tb_id, flp, nhc, daddr);
}

/* Preferred where the kernel allows fentry/fexit: sees the lookup's result struct. */
SEC("fexit/fib_table_lookup")
int BPF_PROG(route_fexit, struct fib_table *tb, const struct flowi4 *flp, struct fib_result *res,
	     int fib_flags, int ret)
{
	on_route_lookup(tb->tb_id, flp, ret == 0 ? res->nhc : NULL, ret, flp->daddr, flp->saddr);
	return 0;
}

/* Fallback: the fib:fib_table_lookup tracepoint, with BTF-typed arguments. */
SEC("tp_btf/fib_table_lookup")
int BPF_PROG(route_tp_btf, u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err)
{
	on_route_lookup(tb_id, flp, nhc, err, flp->daddr, flp->saddr);
	return 0;
}

/* Last resort: the same tracepoint as a raw tracepoint, its untyped arguments given their types. */
SEC("raw_tp/fib_table_lookup")
int BPF_PROG(route_raw_tp, u32 tb_id, const struct flowi4 *flp_addr, const struct fib_nh_common *nhc_addr, int err)
{
	const struct flowi4 *flp = kernel_view(struct flowi4, flp_addr);
	const struct fib_nh_common *nhc = nhc_addr ? kernel_view(struct fib_nh_common, nhc_addr) : NULL;
	on_route_lookup(tb_id, flp, nhc, err, flp->daddr, flp->saddr);
	return 0;
}

/* IPv6: the fib6:fib6_table_lookup tracepoint. Misses report the null entry, which has no nexthop
 * device and is not RTN_UNICAST. */
SEC("tp_btf/fib6_table_lookup")
int BPF_PROG(route6_tp_btf, const struct net *net, const struct fib6_result *res, struct fib6_table *table,
	     const struct flowi6 *flp)
{
	if (!res || !flp || res->fib6_type != RTN_UNICAST || !in_service_cidrs_v6(&flp->daddr))
		return 0;
	struct fib6_nh *nh = res->nh;
	struct fib6_info *f6i = res->f6i;
	if (!nh || !f6i)
		return 0;
	__u32 netns = net->ns.inum;
	if (!wanted_netns(netns))
		return 0;
	/* Unlike IPv4, tcp_v6_connect() looks the route up once, before the port is chosen: keep it. */
	struct svc_event *e = reserve_event(SVC_EV_ROUTE, netns);
	if (!e)
		return 0;
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
	if (e->route.gw_family == AF_INET6)
		__builtin_memcpy(e->route.gw, &nh->nh_common.nhc_gw.ipv6, 16);
	__builtin_memcpy(e->route.prefsrc, &f6i->fib6_prefsrc.addr, 16);
	submit_event(e);
	return 0;
}

/* ---- conntrack NAT and replies ------------------------------------------------------------------ */

/* Flows to the CIDRs that have left and not yet seen a reply, found by a hash of the tuple their
 * replies carry on the wire (conntrack's reply tuple, final after SNAT at POST_ROUTING), so that every
 * path can find them: the reply and drop hooks from the packet's conntrack entry, and a reply that
 * conntrack calls INVALID, which reaches the drop hook with no entry, from its own headers.
 * An array of buckets rather than a hash map: a hash map insert cost about 500 ns per flow on the
 * build machines (bench: nat_post_routing with and without it), most of a service flow's cost; a
 * bucket is one cache line. Four entries per bucket: a new flow takes a free or answered one, else
 * evicts the oldest (counted); with two, a table a third full already evicted 5 % of its flows.
 * Unlocked: two CPUs writing one entry in the same instant can leave one flow's tag with the other's
 * conntrack entry, which the reply and drop hooks then match to neither (the drop hook's lookup by
 * headers checks the entry's tuple too); the netfilter hooks would need bpf_spin_lock, which the drop
 * hook, a tracing program, may not share. The counters can be off by such a race. */
struct awaiting_entry {
	__u64 ct;     /* the conntrack entry; 0: free */
	__u32 tag;    /* the reply tuple's hash, the bits the bucket index does not use */
	__u32 stamp;  /* when it was remembered, in ~ms, odd; 0 once the first reply was reported */
};

struct awaiting_bucket {
	struct awaiting_entry e[SVC_AWAITING_WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16384); /* resized by userspace before load: --max-flows / 4, a power of two */
	__type(key, __u32);
	__type(value, struct awaiting_bucket);
} awaiting_reply SEC(".maps");

const volatile __u32 bucket_mask = 16383; /* max_entries - 1, set with it */

static __always_inline __u64 mix(__u64 h, __u64 word)
{
	h = (h ^ word) * 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

/* The hash of a reply tuple: addresses as in the packet (an IPv4 address in the first word),
 * the two ports as on the wire, the protocol. Computed alike from a conntrack tuple and from a
 * packet's headers. */
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

static __always_inline __u32 tag_of(__u64 hash)
{
	return (__u32)hash | 1; /* never 0: a free entry matches no flow */
}

static __always_inline struct awaiting_bucket *bucket_of(__u64 hash)
{
	__u32 i = (hash >> 32) & bucket_mask;
	return bpf_map_lookup_elem(&awaiting_reply, &i);
}

/* The entry of flow ct with this reply hash, answered or not, or NULL. */
static __always_inline struct awaiting_entry *find_awaiting(__u64 hash, __u64 ct)
{
	struct awaiting_bucket *b = bucket_of(hash);
	if (!b)
		return NULL;
	__u32 tag = tag_of(hash);
#pragma unroll
	for (int i = 0; i < SVC_AWAITING_WAYS; i++)
		if (b->e[i].tag == tag && b->e[i].ct == ct)
			return &b->e[i];
	return NULL;
}

/* A conntrack entry's two tuples (original direction, then reply), copied with one probe read: a read
 * per field was most of what a service flow's packet cost. (struct nf_conn cannot be a kernel_view:
 * CO-RE cannot tell it from the kernel's nf_conn___init, and with conntrack built as a module it is not
 * in vmlinux's BTF.) The array's place in nf_conn is CO-RE's; the tuple's layout, unchanged for over a
 * decade, is checked against the running kernel's. */
static __always_inline bool read_conn(__u64 ct, struct nf_conntrack_tuple_hash th[2])
{
	if (bpf_core_type_size(struct nf_conntrack_tuple_hash) != sizeof(th[0]) ||
	    bpf_core_read(th, 2 * sizeof(th[0]), &((const struct nf_conn *)ct)->tuplehash) != 0) {
		count(SVC_CNT_CONN_UNREADABLE); /* userspace says so: NAT, replies and drops go unseen */
		return false;
	}
	return true;
}

/* ct_tuple: a copy made by read_conn. */
static __always_inline void read_tuple(struct svc_tuple *t, const struct nf_conntrack_tuple *ct_tuple)
{
	t->family = ct_tuple->src.l3num;
	t->proto = ct_tuple->dst.protonum;
	if (t->family == AF_INET6) {
		__builtin_memcpy(t->src, &ct_tuple->src.u3.in6, 16);
		__builtin_memcpy(t->dst, &ct_tuple->dst.u3.in6, 16);
	} else {
		put_v4(t->src, ct_tuple->src.u3.ip);
		put_v4(t->dst, ct_tuple->dst.u3.ip);
	}
	/* tcp and udp keep their ports at the same place in the union */
	t->sport = bpf_ntohs(ct_tuple->src.u.all);
	t->dport = bpf_ntohs(ct_tuple->dst.u.all);
}

static __always_inline __u64 conn_reply_hash(const struct nf_conntrack_tuple_hash th[2])
{
	const struct nf_conntrack_tuple *r = &th[1].tuple;
	return reply_hash(r->src.l3num, r->dst.protonum, r->src.u3.all, r->dst.u3.all, r->src.u.all, r->dst.u.all);
}

/* The entry of flow ct, with tuples th (read_conn), or NULL: not remembered, or evicted, or the entry
 * of an earlier flow with the same tuple. */
static __always_inline struct awaiting_entry *awaiting(__u64 ct, const struct nf_conntrack_tuple_hash th[2])
{
	return find_awaiting(conn_reply_hash(th), ct);
}

/* The test every packet of a new conntrack entry (ctinfo NEW) pays at the NAT hooks: is the entry's
 * original destination in the CIDRs? Returns its family if so, 0 if not; th: the entry's tuples. */
static __always_inline __u16 new_flow_to_service(unsigned long nfct, struct nf_conntrack_tuple_hash th[2])
{
	if ((nfct & NFCT_INFOMASK) != IP_CT_NEW || !read_conn(nfct & ~NFCT_INFOMASK, th))
		return 0;
	const struct nf_conntrack_tuple *orig = &th[0].tuple;
	__u16 l3 = orig->src.l3num;
	if (l3 == AF_INET)
		return in_service_cidrs_v4(orig->dst.u3.ip) ? AF_INET : 0;
	if (l3 == AF_INET6) {
		struct in6_addr dst6;
		__builtin_memcpy(&dst6, &orig->dst.u3.in6, 16);
		return in_service_cidrs_v6(&dst6) ? AF_INET6 : 0;
	}
	return 0;
}

/* How willingly an entry gives way to a new flow, lowest first: free, answered, then by age. */
static __always_inline __u64 rank(const struct awaiting_entry *e, __u32 now)
{
	if (!e->ct)
		return 0;
	if (!e->stamp)
		return 1;
	return (__u64)2 << 32 | (__u32)(0xffffffffu - (now - e->stamp)); /* older: lower */
}

/* Adds the flow of a packet leaving (POST_ROUTING) to awaiting_reply, unless it is there (a
 * retransmit). */
static __always_inline void remember(__u64 ct, __u64 hash)
{
	struct awaiting_bucket *b = bucket_of(hash);
	if (!b)
		return;
	__u32 tag = tag_of(hash);
	__u32 now = (__u32)(bpf_ktime_get_ns() >> 20) | 1;
	struct awaiting_entry *victim = &b->e[0];
#pragma unroll
	for (int i = 0; i < SVC_AWAITING_WAYS; i++) {
		struct awaiting_entry *e = &b->e[i];
		if (e->tag == tag && e->ct == ct) {
			/* A retransmit; or, if answered, a new flow in a recycled conntrack entry with the same
			 * tuple (this packet's entry is NEW: it has seen no reply). */
			if (!e->stamp) {
				e->stamp = now;
				count(SVC_CNT_AWAITING_INSERTS);
			}
			return;
		}
		/* free first, then answered, then the oldest (stamps compared as a wrapping clock) */
		if (rank(e, now) < rank(victim, now))
			victim = e;
	}
	if (victim->stamp)
		count(SVC_CNT_AWAITING_EVICTED);
	count(SVC_CNT_AWAITING_INSERTS);
	victim->ct = ct;
	victim->tag = tag;
	victim->stamp = now;
}

static __always_inline void await_local_answer(__u64 ct)
{
	struct nf_conntrack_tuple_hash th[2];
	if (!read_conn(ct, th))
		return;
	remember(ct, conn_reply_hash(th));
	if (!local_answers_awaited)
		local_answers_awaited = 1;
}

/* A packet of a conntrack entry that has seen no reply yet, to the CIDRs (new_flow_to_service), at a
 * hook after NAT. Once a reply is seen its packets are ESTABLISHED and cost one compare here. One event
 * per packet that leaves (POST_ROUTING: the SYNs and their retransmits), one for each packet of a
 * forwarded flow that comes in before one has left (PRE_ROUTING: its first, and its retransmits if
 * this host drops them), none for LOCAL_OUT, whose device rides along in the POST_ROUTING event. */
static __always_inline void record_unreplied(unsigned long nfct, const struct nf_conntrack_tuple_hash th[2],
					     __u16 l3, __u32 netns, __u32 hook, int in_ifindex, int out_ifindex)
{
	__u64 ct = nfct & ~NFCT_INFOMASK;
	if (!wanted_netns(netns))
		return;
	if (!awaiting_any)
		awaiting_any = 1;
	if (hook == SVC_NAT_LOCAL_OUT) {
		begin_passage(ct, out_ifindex, 0);
		return;
	}
	__s32 route_ifindex = 0;
	if (hook == SVC_NAT_PRE_ROUTING) {
		/* A flow of this host's that came back in over loopback has left already (an answered entry
		 * with this tuple is a recycled one's: conntrack reused it for a new flow). */
		struct awaiting_entry *v = awaiting(ct, th);
		if (v && v->stamp)
			return;
		/* The input route lookup comes next, on this CPU, for the DNAT target. */
		begin_passage(ct, 0, l3 == AF_INET ? th[1].tuple.src.u3.ip : 0);
	} else {
		struct in_passage *p = passage_of(ct);
		if (p) {
			route_ifindex = p->route_ifindex;
			p->ct = 0;
			p->backend = 0;
		}
	}

	if (hook == SVC_NAT_POST_ROUTING)
		remember(ct, conn_reply_hash(th));

	struct svc_event *e = reserve_event(SVC_EV_NAT, netns);
	if (!e)
		return;
	read_tuple(&e->tuple, &th[0].tuple);
	read_tuple(&e->nat.reply, &th[1].tuple);
	e->nat.hook = hook;
	e->nat.ct_status = BPF_CORE_READ((const struct nf_conn *)ct, status);
	e->nat.out_ifindex = hook == SVC_NAT_PRE_ROUTING ? in_ifindex : out_ifindex;
	e->nat.route_ifindex = route_ifindex;
	submit_event(e);
}

/* Reads what answered: an ICMP error's type and code, or a TCP reply's flags (a SYN-ACK or a RST).
 * The network header is set at PRE_ROUTING. */
static __always_inline void read_reply_header(const struct sk_buff *skb, struct svc_reply_info *r)
{
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header;
	__u8 ip[10] = {};
	bpf_probe_read_kernel(ip, sizeof(ip), head + nh);
	unsigned char *l4;
	__u8 proto;
	bool v6 = (ip[0] >> 4) == 6;
	if (v6) { /* no extension headers expected on a reply */
		l4 = head + nh + 40;
		proto = ip[6];
	} else {
		l4 = head + nh + (ip[0] & 0xf) * 4;
		proto = ip[9];
	}
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_) {
		__u8 icmp[2] = {};
		bpf_probe_read_kernel(icmp, 2, l4);
		r->icmp_type = icmp[0];
		r->icmp_code = icmp[1];
		if (v6)
			bpf_probe_read_kernel(r->icmp_from, 16, head + nh + 8);
		else
			bpf_probe_read_kernel(r->icmp_from, 4, head + nh + 12);
	} else if (proto == IPPROTO_TCP) {
		bpf_probe_read_kernel(&r->tcp_flags, 1, l4 + 13);
	}
}

/* A packet in the reply direction: reports the first one of each flow awaiting a reply. */
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
	struct awaiting_entry *v = awaiting(key, th);
	if (!v || !v->stamp)
		return;
	v->stamp = 0;
	count(SVC_CNT_AWAITING_REPLIED);

	struct svc_event *e = reserve_event(SVC_EV_REPLY, netns);
	if (!e)
		return;
	read_tuple(&e->tuple, &th[0].tuple);
	e->reply.ifindex = in_ifindex;
	e->reply.ctinfo = ctinfo;
	read_reply_header(skb, &e->reply);
	submit_event(e);
}

/* The work for a packet of a service flow, out of line (a BPF-to-BPF call, taken only then): the path
 * every other packet takes stays a few instructions at the head of the program's image, instead of
 * ending in a jump across its kilobytes. */
static __noinline int nat_service_packet(struct bpf_nf_ctx *ctx, __u32 hook, __u32 l3,
					 const struct nf_conntrack_tuple_hash *th)
{
	const struct nf_hook_state *state = ctx->state;
	int in = state->in ? state->in->ifindex : 0;
	int out = state->out ? state->out->ifindex : 0;
	record_unreplied(ctx->skb->_nfct, th, l3, state->net->ns.inum, hook, in, out);
	return 0;
}

static __noinline int nat_reply_packet(struct bpf_nf_ctx *ctx)
{
	const struct nf_hook_state *state = ctx->state;
	record_reply(ctx->skb, ctx->skb->_nfct, state->net->ns.inum, state->in ? state->in->ifindex : 0);
	return 0;
}

static __always_inline int netfilter_hook(struct bpf_nf_ctx *ctx, __u32 hook)
{
	/* Cheapest rejections first: most packets are untracked, or of flows that were answered long ago
	 * (ESTABLISHED, original direction), or replies while no service flow was ever remembered. Then
	 * a new flow's destination against the CIDRs; the devices and the namespace are read only for a
	 * flow to a service. */
	unsigned long nfct = ctx->skb->_nfct;
	__u32 ctinfo = nfct & NFCT_INFOMASK;
	if (!nfct)
		return NF_ACCEPT; /* untracked: nothing to join */
	if (ctinfo == IP_CT_NEW) {
		struct nf_conntrack_tuple_hash th[2];
		__u16 l3 = new_flow_to_service(nfct, th);
		if (l3)
			nat_service_packet(ctx, hook, l3, th);
	} else if ((ctinfo == IP_CT_ESTABLISHED_REPLY || ctinfo == IP_CT_RELATED_REPLY) &&
		   (hook == SVC_NAT_PRE_ROUTING ? awaiting_any : hook == SVC_NAT_LOCAL_OUT && local_answers_awaited) &&
		   /* Only a first reply can be awaited, and conntrack calls an entry assured only after
		    * it (TCP: at the handshake's last ACK): established traffic's replies, most of what
		    * arrives, cost this one read. */
		   !(BPF_CORE_READ((const struct nf_conn *)(nfct & ~NFCT_INFOMASK), status) & IPS_ASSURED)) {
		nat_reply_packet(ctx); /* arriving, or answered by this host (local_answers_awaited) */
	}
	return NF_ACCEPT;
}

/* Attached by userspace with BPF_LINK_CREATE: LOCAL_OUT at priority -99, right after DNAT (-100):
 * out is the device of the route to the service IP, before the re-route. Also this host's answers to
 * forwarded flows delivered here (local_answers_awaited). */
SEC("netfilter")
int nat_local_out(struct bpf_nf_ctx *ctx)
{
	return netfilter_hook(ctx, SVC_NAT_LOCAL_OUT);
}

/* POST_ROUTING at priority 101, right after SNAT (100): the device the packet really leaves by. */
SEC("netfilter")
int nat_post_routing(struct bpf_nf_ctx *ctx)
{
	return netfilter_hook(ctx, SVC_NAT_POST_ROUTING);
}

/* PRE_ROUTING at priority -99, right after DNAT: replies arriving, and forwarded (pod) flows' first
 * packets with the device they came in by. */
SEC("netfilter")
int nat_pre_routing(struct bpf_nf_ctx *ctx)
{
	return netfilter_hook(ctx, SVC_NAT_PRE_ROUTING);
}

/* Fallback for kernels without BPF netfilter links (before 6.4, "bpf: add netfilter program type"):
 * the packet on its way to the driver, after POST_ROUTING, still carries its conntrack entry. Replies
 * are not seen this way. skb->_nfct has had this name and layout since 4.11 ("netfilter: merge
 * nfctinfo into nfct pointer storage area"). */
SEC("tp_btf/net_dev_queue")
int BPF_PROG(nat_dev_queue, struct sk_buff *skb)
{
	unsigned long nfct = skb->_nfct;
	struct net_device *dev = skb->dev;
	if (!dev || (nfct & NFCT_INFOMASK) != IP_CT_NEW)
		return 0;
	struct nf_conntrack_tuple_hash th[2];
	__u16 l3 = new_flow_to_service(nfct, th);
	if (l3)
		record_unreplied(nfct, th, l3, dev->nd_net.net->ns.inum, SVC_NAT_POST_ROUTING, 0, dev->ifindex);
	return 0;
}

/* A drop of any packet that belongs to a flow awaiting its reply: rp_filter, no route, and so on.
 * The reason is the kernel's enum skb_drop_reason, named by userspace from the running kernel's BTF.
 * The tracepoint gained its reason argument in 5.17 ("net: skb: introduce kfree_skb_reason()"); on
 * older kernels this program fails to load and userspace runs without it (role "drop", optional). */
/* Whether conntrack entry ct (read into th) still has a reply tuple of this hash: its address may have
 * been recycled for another flow since it was remembered. */
static __always_inline bool still_flow(__u64 ct, __u64 hash, struct nf_conntrack_tuple_hash th[2])
{
	return ct && read_conn(ct, th) && conn_reply_hash(th) == hash;
}

/* The flow a packet with no conntrack entry answers, by its headers (the reply tuple), or 0; th: that
 * flow's tuples. Of the entries with the tuple's tag, one still awaiting its reply first. */
static __always_inline __u64 flow_of_untracked_reply(const struct sk_buff *skb, struct nf_conntrack_tuple_hash th[2])
{
	/* Most skbs freed without conntrack are not IP at all (netlink, unix sockets): one field read
	 * rejects them before any header is copied. */
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
		proto = ip[6]; /* no extension headers expected on a reply */
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

SEC("tp_btf/kfree_skb")
int BPF_PROG(drop_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	unsigned long nfct = skb->_nfct;
	if (!awaiting_any)
		return 0;
	__u32 ctinfo = nfct & NFCT_INFOMASK;
	__u64 key = nfct & ~NFCT_INFOMASK;
	struct nf_conntrack_tuple_hash th[2];
	if (!nfct) {
		/* No conntrack entry: conntrack found the packet INVALID (or never saw it). */
		key = flow_of_untracked_reply(skb, th);
		ctinfo = SVC_CTINFO_INVALID;
		if (!key)
			return 0;
	} else if (passage_of(key)) {
		/* dropped on its way out, before POST_ROUTING (a REJECT in OUTPUT, a DROP in FORWARD) */
		if (!read_conn(key, th))
			return 0;
	} else if (!read_conn(key, th) || !awaiting(key, th)) {
		return 0;
	}
	struct net_device *dev = skb->dev; /* not yet set for a packet dropped in LOCAL_OUT */
	__u32 netns = BPF_CORE_READ((const struct nf_conn *)key, ct_net.net, ns.inum);
	struct svc_event *e = reserve_event(SVC_EV_DROP, netns);
	if (!e)
		return 0;
	read_tuple(&e->tuple, &th[0].tuple);
	e->reply.ifindex = dev ? dev->ifindex : 0;
	e->reply.ctinfo = ctinfo;
	e->reply.drop_reason = reason;
	submit_event(e);
	return 0;
}

/* ---- TCP outcome ------------------------------------------------------------------------------- */

static __always_inline bool tcp_sock_to_service(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	if (family == AF_INET)
		return in_service_cidrs_v4(sk->__sk_common.skc_daddr);
	if (family == AF_INET6) {
		struct in6_addr daddr = sk->__sk_common.skc_v6_daddr;
		return in_service_cidrs_v6(&daddr);
	}
	return false;
}

static __always_inline void record_tcp(const struct sock *sk, __u32 kind, int oldstate, int newstate)
{
	__u32 netns = sk->__sk_common.skc_net.net->ns.inum;
	if (!wanted_netns(netns))
		return;
	struct svc_event *e = reserve_event(kind, netns);
	if (!e)
		return;
	e->tuple.family = sk->__sk_common.skc_family;
	e->tuple.proto = IPPROTO_TCP;
	if (e->tuple.family == AF_INET6) {
		__builtin_memcpy(e->tuple.src, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(e->tuple.dst, &sk->__sk_common.skc_v6_daddr, 16);
	} else {
		put_v4(e->tuple.src, sk->__sk_common.skc_rcv_saddr);
		put_v4(e->tuple.dst, sk->__sk_common.skc_daddr);
	}
	/* inet_sport, not skc_num: tcp_set_state(TCP_CLOSE) releases the port (skc_num = 0) before
	 * the tracepoint fires, while inet_sport keeps it. */
	e->tuple.sport = bpf_ntohs(kernel_view(struct inet_sock, sk)->inet_sport);
	e->tuple.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	e->tcp.old_state = oldstate;
	e->tcp.new_state = newstate;
	e->tcp.sk_err = sk->sk_err;
	e->tcp.sk_err_soft = sk->sk_err_soft;
	submit_event(e);
}

/* A socket leaving SYN_SENT: ESTABLISHED = answered, CLOSE with ECONNREFUSED = refused. */
/* sk_protocol is a plain u16 since 5.6 ("net: Make sk_protocol a 16-bit value"); before, a bitfield that
 * a direct load could not read. svctrace needs 6.2+ (bpf_rdonly_cast) anyway. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, int oldstate, int newstate)
{
	if (oldstate != TCP_SYN_SENT || sk->sk_protocol != IPPROTO_TCP || !tcp_sock_to_service(sk))
		return 0;
	record_tcp(sk, SVC_EV_TCP_STATE, oldstate, newstate);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	if (sk->__sk_common.skc_state != TCP_SYN_SENT || !tcp_sock_to_service(sk))
		return 0;
	record_tcp(sk, SVC_EV_TCP_RETRANS, TCP_SYN_SENT, TCP_SYN_SENT);
	return 0;
}

/* Same layout as the C++ side asserts in userspace/event_layout.cpp. */
_Static_assert(sizeof(struct svc_event) == 152, "struct svc_event layout changed");
_Static_assert(sizeof(struct svc_cidr_key) == 20, "struct svc_cidr_key layout changed");
