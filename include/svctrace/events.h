/* The one definition of every record the BPF programs send to userspace.
 * Included by the BPF programs (after vmlinux.h) and by the C++ side. Fixed-width fields, explicit
 * padding, no pointers; the layout checks at the end are compiled on both sides, so clang's BPF target
 * and the C++ compiler must agree on every offset. */
#ifndef SVCTRACE_EVENTS_H
#define SVCTRACE_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SVC_COMM_LEN 16

/* Addresses are 16 bytes so IPv6 fits; an IPv4 address occupies the first 4 bytes, network order. */
struct svc_tuple {
	__u8 src[16];
	__u8 dst[16];
	__u16 sport; /* host byte order */
	__u16 dport; /* host byte order */
	__u8 family; /* AF_INET */
	__u8 proto;  /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 _pad[2];
};

enum svc_event_kind {
	SVC_EV_ROUTE = 1,      /* a FIB lookup for a destination in the CIDRs succeeded */
	SVC_EV_NAT = 2,        /* an unreplied packet of a conntrack entry to the CIDRs passed a NAT hook */
	SVC_EV_TCP_STATE = 3,  /* a socket to the CIDRs left SYN_SENT (answered, refused, given up) */
	SVC_EV_TCP_RETRANS = 4,/* a socket to the CIDRs retransmitted its SYN */
	SVC_EV_REPLY = 5,      /* the first reply (or ICMP error) of an unreplied flow reached the node */
	SVC_EV_DROP = 6,       /* the kernel dropped a packet of a flow still awaiting its reply */
	SVC_EV_REPLY_ROUTE = 7 /* on a backend: the route lookup for the answer to a SYN that came in for
	                          an address in the CIDRs missed (route.err < 0, the first table it missed
	                          in), or found a route after such a miss (route.err == 0, table and oif of
	                          the route). The tuple is the incoming flow: client -> local address. */
};
#define SVC_EV_LAST SVC_EV_REPLY_ROUTE
/* Not a struct svc_event: a struct svc_packet (below), sent only with --pcap. Its first fields are
 * svc_event's, so the reader tells the two apart by kind. */
#define SVC_EV_PACKET 8

/* Which hook saw the packet of an SVC_EV_NAT event. LOCAL_OUT sends no event of its own: it notes the
 * device of the route to the service IP, which the POST_ROUTING event carries (route_ifindex). */
enum svc_nat_hook {
	SVC_NAT_LOCAL_OUT = 1,  /* NF_INET_LOCAL_OUT, just after DNAT: device of the route to the service IP */
	SVC_NAT_POST_ROUTING = 2,/* NF_INET_POST_ROUTING, just after SNAT: the real egress device */
	SVC_NAT_PRE_ROUTING = 3  /* NF_INET_PRE_ROUTING, just after DNAT: a forwarded flow's first packet */
};

struct svc_route_info {
	__u32 table;     /* FIB table id that matched (254 = main) */
	__s32 oif;       /* output device ifindex of the chosen nexthop */
	__s32 iif;       /* input ifindex of the lookup (0 for locally generated traffic); for
	                    SVC_EV_REPLY_ROUTE, the device the SYN came in by */
	__u32 mark;
	__u8 gw[16];     /* gateway, zero when on-link */
	__u8 prefsrc[16];/* the route's own "src", zero when the route has none */
	__u8 nh_saddr[16];/* the source the nexthop selects when the route has no "src" */
	__u8 gw_family;
	__u8 scope;
	__u8 _pad[2];
	__s32 err;       /* SVC_EV_REPLY_ROUTE: the lookup's error (-EAGAIN: no route in that table) */
};

struct svc_nat_info {
	struct svc_tuple reply; /* conntrack reply tuple: src is the DNAT target, dst the SNAT result */
	__u32 hook;             /* enum svc_nat_hook */
	__s32 out_ifindex;      /* POST_ROUTING: the egress device; PRE_ROUTING: the device it came in by */
	__u32 ct_status;        /* IPS_* bits of the conntrack entry */
	__s32 route_ifindex;    /* POST_ROUTING of a local flow: where the route to the service IP pointed */
};

/* SVC_EV_REPLY and SVC_EV_DROP: a packet of the flow's reply direction, or any packet of it dropped. */
struct svc_reply_info {
	__s32 ifindex;     /* device the packet arrived on (reply; 0 for an answer from this host, seen
	                      at LOCAL_OUT) or was on when dropped */
	__u32 ctinfo;      /* enum ip_conntrack_info: 3 = reply, 4 = related reply (an ICMP error);
	                      SVC_CTINFO_INVALID for a dropped packet conntrack called INVALID,
	                      SVC_CTINFO_UNTRACKED for one to a service IP with no conntrack entry */
	__u32 drop_reason; /* enum skb_drop_reason; names come from the running kernel's BTF */
	__u8 icmp_type;    /* for an ICMP error: its type and code */
	__u8 icmp_code;
	__u8 tcp_flags;    /* for a TCP reply: its flags (0x12 SYN-ACK, 0x04 RST...) */
	__u8 _pad;
	__u8 icmp_from[16];/* for an ICMP error: who sent it (the backend, or a router on the way) */
};

struct svc_tcp_info {
	__s32 old_state; /* TCP_* */
	__s32 new_state;
	__s32 sk_err;    /* ECONNREFUSED after a RST, ETIMEDOUT after the SYN retries ran out */
	__s32 sk_err_soft; /* an ICMP error that came while the socket was busy (e.g. a local REJECT) */
};

struct svc_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u32 kind;    /* enum svc_event_kind */
	__u32 netns;   /* inode number of the network namespace */
	__u32 pid;     /* tgid of the current task; only meaningful in process context */
	__u32 _pad;
	char comm[SVC_COMM_LEN];
	struct svc_tuple tuple; /* the original direction: chosen source -> service IP */
	union {
		struct svc_route_info route;
		struct svc_nat_info nat;
		struct svc_tcp_info tcp;
		struct svc_reply_info reply;
	};
};

/* svc_reply_info.ctinfo of a drop: the packet had no conntrack entry (conntrack found it INVALID),
 * and its headers named the flow it answers. */
#define SVC_CTINFO_INVALID 255
/* svc_reply_info.ctinfo of a drop: a packet to a service IP that conntrack made no entry for (its
 * table full, or a rule before conntrack dropped it), its flow named from its headers. */
#define SVC_CTINFO_UNTRACKED 254

/* Flows per bucket (a cache line) of the BPF table of flows awaiting their reply; userspace sizes the
 * table in buckets. */
#define SVC_AWAITING_WAYS 4

/* An entry of the BPF table of flows awaiting their reply (awaiting_reply, lib/awaiting.bpf.h), which
 * userspace maps to find the held flows left unanswered. */
struct svc_awaiting_entry {
	__u64 ct;     /* the conntrack entry; 0: free */
	__u32 held;   /* its held slot + 1 (held_flows), 0 for none */
	__u16 tag;    /* the reply tuple's hash, bits the bucket index does not use */
	__u16 stamp;  /* when remembered: bpf_ktime_get_ns() >> SVC_STAMP_SHIFT, odd, a clock that wraps
			 every 69 s; 0 once its first reply was seen */
};
#define SVC_STAMP_SHIFT 20

/* A flow's records held back in the kernel (lib/held.bpf.h): unless every flow is streamed
 * (--all-flows), the route and NAT records of a flow that has left are kept here, in a slot its
 * awaiting_reply entry names, until the flow needs deciding. A flow answered in time is counted in
 * service_counts and its records never leave the kernel. Userspace maps the table to release the
 * records of flows left unanswered too long (a UDP flow never sent again). */
enum svc_held_state {
	SVC_HELD_NONE = 0,     /* nothing held: the flow's records were streamed as they happened */
	SVC_HELD = 1,          /* route and NAT records here, the flow awaiting its reply */
	SVC_HELD_COUNTED = 2,  /* answered and counted in service_counts; records kept for a late drop */
	SVC_HELD_RELEASED = 3  /* sent to the ring buffer (or read by userspace): followed from there */
};

/* Four cache lines: the first two are what the kernel reads again when the flow is answered, the last
 * two the rest of its records. Each CPU takes the slots of its own part of the table in turn (held.bpf.h),
 * so the lines a new flow writes are next to the last flow's, in pages the caches and the TLB still
 * hold (docs/architecture.md has the figures). The records are made from it by svc_held_*_record
 * below, in the kernel and in userspace alike. */
struct svc_held_flow {
	__u32 state;            /* enum svc_held_state, written last */
	__u32 netns;
	__u64 ct;               /* its conntrack entry: whose slot it is */
	__u64 left_ts;          /* when its first packet left (POST_ROUTING) */
	__u64 ingress_ts;       /* when its first hook saw it (PRE_ROUTING, or LOCAL_OUT for this host's
				   own), if this CPU kept its passage: the connect time counts from it */
	__u64 answered_ns;      /* SVC_HELD_COUNTED: when its first reply came */
	struct svc_tuple tuple; /* its SVC_EV_NAT record's fields */
	struct svc_tuple reply;
	__s32 out_ifindex;
	__s32 ingress_ifindex;  /* a forwarded flow: the device it came in by (PRE_ROUTING), else 0 */
	__s32 route_ifindex;
	__u32 ct_status;
	/* its SVC_EV_ROUTE record's, when has_route: the rest of its tuple is the flow's */
	__u64 route_ts;
	__u32 route_pid;
	__u16 route_sport;      /* the lookup's: 0 when made before the port was picked */
	__u8 has_route;
	__u8 _pad;
	__u8 route_src[16];     /* the lookup's: zero when made before the source was picked */
	char route_comm[SVC_COMM_LEN];
	struct svc_route_info route;
};

/* A held flow's SVC_EV_NAT record: its first packet at POST_ROUTING. */
static inline __attribute__((always_inline)) void svc_held_nat_record(struct svc_event *e,
								       const struct svc_held_flow *h)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = h->left_ts;
	e->kind = SVC_EV_NAT;
	e->netns = h->netns;
	e->tuple = h->tuple;
	e->nat.reply = h->reply;
	e->nat.hook = SVC_NAT_POST_ROUTING;
	e->nat.out_ifindex = h->out_ifindex;
	e->nat.route_ifindex = h->route_ifindex;
	e->nat.ct_status = h->ct_status;
}

/* A held flow's SVC_EV_ROUTE record (when has_route). */
static inline __attribute__((always_inline)) void svc_held_route_record(struct svc_event *e,
									 const struct svc_held_flow *h)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = h->route_ts;
	e->kind = SVC_EV_ROUTE;
	e->netns = h->netns;
	e->pid = h->route_pid;
	__builtin_memcpy(e->comm, h->route_comm, SVC_COMM_LEN);
	e->tuple = h->tuple;
	__builtin_memcpy(e->tuple.src, h->route_src, 16);
	e->tuple.sport = h->route_sport;
	e->route = h->route;
}

/* A forwarded held flow's PRE_ROUTING record, made from its POST_ROUTING one: the same tuples (the
 * source NAT the later one may show is userspace's to read from it), the time and the device it came
 * in by. */
static inline __attribute__((always_inline)) void svc_ingress_record(struct svc_event *e,
								      const struct svc_held_flow *h)
{
	svc_held_nat_record(e, h);
	e->ts_ns = h->ingress_ts;
	e->nat.hook = SVC_NAT_PRE_ROUTING;
	e->nat.out_ifindex = h->ingress_ifindex;
	e->nat.route_ifindex = 0;
}

/* Answered flows per service, counted in the kernel (per-CPU hash map service_counts). */
#define SVC_CONNECT_BUCKETS 32
struct svc_service_key {
	__u32 netns;
	__s32 egress_ifindex;    /* the device its packets left by (POST_ROUTING) */
	__u8 family;
	__u8 proto;
	__u16 service_port;      /* host byte order */
	__u16 backend_port;
	__u8 forwarded;          /* 1: flows that came in by a device (a pod's), 0: this host's own */
	__u8 _pad;
	__u8 service[16];        /* the original destination: the service IP */
	__u8 backend[16];        /* the DNAT target (the service IP when not DNAT'd) */
};

struct svc_service_counts {
	__u64 answered;
	/* time from its first packet to its first reply: bucket i counts [2^i, 2^(i+1)) µs, 0 also 0 */
	__u64 connect_us_log2[SVC_CONNECT_BUCKETS];
};

/* --pcap: the headers of a packet of a flow not yet answered, for the capture file of the failing
 * flows. Sent where the flow's other records are: a held flow's first packet waits in held_packets
 * (lib/packets.bpf.h) and goes out with its records when it is released. */
#define SVC_SNAP_LEN 128
enum svc_packet_seen {
	SVC_PKT_LEFT = 1,     /* at POST_ROUTING, as it left: after source NAT */
	SVC_PKT_CAME_IN = 2,  /* a forwarded flow's packet at PRE_ROUTING: after destination NAT */
	SVC_PKT_REPLY = 3,    /* its first reply (an ICMP error, a RST, a SYN-ACK) coming in */
	SVC_PKT_DROPPED = 4   /* dropped by the kernel (drop_reason says why) */
};

struct svc_packet {
	__u64 ts_ns;
	__u32 kind;             /* SVC_EV_PACKET */
	__u32 netns;
	struct svc_tuple flow;  /* the flow it belongs to: its original direction, as svc_event.tuple */
	__u32 seen;             /* enum svc_packet_seen */
	__s32 ifindex;          /* the device: left by, came in by, dropped on (0: none yet) */
	__u32 drop_reason;      /* SVC_PKT_DROPPED: enum skb_drop_reason */
	__u16 wire_len;         /* the IP packet's length, from its header */
	__u16 caplen;           /* bytes of it in data, from the IP header on */
	__u8 data[SVC_SNAP_LEN];
};

/* Per-CPU counters the BPF side keeps; userspace sums them. */
enum svc_counter {
	SVC_CNT_EVENTS = 0,      /* records submitted to the ring buffer */
	SVC_CNT_RINGBUF_DROPS,   /* bpf_ringbuf_reserve failed: the event is lost */
	SVC_CNT_AWAITING_INSERTS,/* flows added to awaiting_reply */
	SVC_CNT_AWAITING_EVICTED,/* ... and pushed out of it by another flow before their reply */
	SVC_CNT_AWAITING_REPLIED,/* ... and answered (inserts - evicted - replied = awaiting now) */
	SVC_CNT_HELD_RELEASED,   /* held flows sent on to the ring buffer: they needed deciding */
	SVC_CNT_COUNTED_FULL,    /* answered flows service_counts had no room for (streamed instead) */
	SVC_CNT_CONN_UNREADABLE, /* a packet's conntrack entry could not be read: a layout this build does
				    not know, or a faulting read (not counted for an entry remembered from
				    an earlier packet, which may be gone) */
	SVC_CNT_PACKET_DROPS,    /* --pcap: a packet's headers not sent: the ring buffer half full or more */
	SVC_CNT_MAX
};

/* LPM-trie key for the service CIDRs; IPv4 prefixes are stored IPv4-mapped (::ffff:a.b.c.d/96+len). */
/* Up to this many IPv4 (IPv6) CIDRs are tested inline, from constants set before load; more go
 * through the LPM trie, a helper call that costs every packet tens of nanoseconds. */
#define SVC_INLINE_V4 16
#define SVC_INLINE_V6 4

struct svc_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* The layout both sides must agree on, checked by each compiler (BPF: _Static_assert; C++:
 * static_assert). A change here is a change of the recording format too (session/recording.h). */
#ifdef __cplusplus
#define SVC_LAYOUT_CHECK(cond) static_assert(cond, "svctrace event layout changed: " #cond)
#else
#define SVC_LAYOUT_CHECK(cond) _Static_assert(cond, "svctrace event layout changed: " #cond)
#endif
SVC_LAYOUT_CHECK(sizeof(struct svc_tuple) == 40);
SVC_LAYOUT_CHECK(__builtin_offsetof(struct svc_tuple, sport) == 32);
SVC_LAYOUT_CHECK(__builtin_offsetof(struct svc_tuple, proto) == 37);
SVC_LAYOUT_CHECK(sizeof(struct svc_route_info) == 72);
SVC_LAYOUT_CHECK(sizeof(struct svc_nat_info) == 56);
SVC_LAYOUT_CHECK(sizeof(struct svc_tcp_info) == 16);
SVC_LAYOUT_CHECK(sizeof(struct svc_reply_info) == 32);
SVC_LAYOUT_CHECK(__builtin_offsetof(struct svc_event, tuple) == 40);
SVC_LAYOUT_CHECK(__builtin_offsetof(struct svc_event, route) == 80);
SVC_LAYOUT_CHECK(sizeof(struct svc_event) == 152);
SVC_LAYOUT_CHECK(sizeof(struct svc_cidr_key) == 20);
SVC_LAYOUT_CHECK(sizeof(struct svc_awaiting_entry) == 16);
SVC_LAYOUT_CHECK(sizeof(struct svc_held_flow) == 256);
SVC_LAYOUT_CHECK(__builtin_offsetof(struct svc_held_flow, route_ifindex) == 128);
SVC_LAYOUT_CHECK(sizeof(struct svc_service_key) == 48);
SVC_LAYOUT_CHECK(__builtin_offsetof(struct svc_packet, kind) == __builtin_offsetof(struct svc_event, kind));
SVC_LAYOUT_CHECK(sizeof(struct svc_packet) == 200);
#undef SVC_LAYOUT_CHECK

#endif
