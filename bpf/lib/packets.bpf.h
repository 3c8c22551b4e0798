/* --pcap: the headers of the packets of flows not yet answered, for the capture file of the flows
 * that failed (userspace keeps those of the diagnosed flows, and forgets the rest).
 * A packet is captured where its flow's records are sent: a streamed flow's packets at once, and a
 * held flow's first packet in held_packets, beside its held records, sent only if the flow is
 * released. So an answered held flow costs one copy of its first packet's headers, and nothing
 * leaves the kernel for it. */
#pragma once

#include "base.bpf.h"
#include "counters.bpf.h"
#include "ringbuf.bpf.h"

/* Set by userspace with --pcap. */
const volatile __u32 capture_packets = 0;

/* A held flow's first packet, in the slot of its held records (held_flows); resized by userspace to
 * held_flows' size with --pcap, else left at one entry. Userspace maps it to release the stalled. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct svc_packet);
} held_packets SEC(".maps");

/* Where skb's network header is, or NULL when it is not set yet. */
static __always_inline const unsigned char *network_header(const struct sk_buff *skb)
{
	__u16 nh = skb->network_header;
	return nh == (__u16)~0U ? NULL : skb->head + nh;
}

/* The packet whose network header is at l3, into p: its length from its own header (an skb's length
 * counts what a device adds, and a GSO skb many packets), and up to SVC_SNAP_LEN bytes of it. */
static __always_inline bool fill_packet(struct svc_packet *p, const unsigned char *l3, __u32 seen, __s32 ifindex,
					__u32 drop_reason)
{
	__u8 ip[6] = {};
	if (bpf_probe_read_kernel(ip, sizeof(ip), l3))
		return false;
	__u32 len;
	if ((ip[0] >> 4) == 6)
		len = 40 + ((__u32)ip[4] << 8 | ip[5]);
	else if ((ip[0] >> 4) == 4)
		len = (__u32)ip[2] << 8 | ip[3];
	else
		return false;
	__u32 caplen = len < SVC_SNAP_LEN ? len : SVC_SNAP_LEN;
	/* 6.1's verifier does not follow the byte swap len came from, and the compiler's min()
	 * may reach the read through a stack slot holding len unbounded (6.1 refused it: "R2 min value is
	 * negative"): the bound is tested again, on a value the compiler cannot see through. */
	barrier_var(caplen);
	if (caplen < 20 || caplen > SVC_SNAP_LEN || bpf_probe_read_kernel(p->data, caplen, l3))
		return false;
	p->wire_len = len;
	p->caplen = caplen;
	p->seen = seen;
	p->ifindex = ifindex;
	p->drop_reason = drop_reason;
	return true;
}

static __always_inline void begin_packet(struct svc_packet *p, __u32 netns, const struct svc_tuple *flow)
{
	p->ts_ns = bpf_ktime_get_ns();
	p->kind = SVC_EV_PACKET;
	p->netns = netns;
	p->flow = *flow;
}

/* A packet's headers are sent only while the ring buffer is at most half full: the records that decide
 * flows keep the other half (a flood of failing flows is also a flood of their packets). */
static __always_inline struct svc_packet *reserve_packet(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2) {
		count(SVC_CNT_PACKET_DROPS);
		return NULL;
	}
	struct svc_packet *p = bpf_ringbuf_reserve(&events, sizeof(*p), 0);
	if (!p)
		count(SVC_CNT_PACKET_DROPS);
	return p;
}

/* The packet at l3 (NULL: none to capture), of flow, sent now. */
static __always_inline void send_packet(const unsigned char *l3, const struct svc_tuple *flow, __u32 netns,
					__u32 seen, __s32 ifindex, __u32 drop_reason)
{
	if (!capture_packets || !l3)
		return;
	struct svc_packet *p = reserve_packet();
	if (!p)
		return;
	begin_packet(p, netns, flow);
	if (!fill_packet(p, l3, seen, ifindex, drop_reason)) {
		bpf_ringbuf_discard(p, BPF_RB_NO_WAKEUP);
		return;
	}
	submit_record(p, sizeof(*p));
}

/* A held flow's first packet (the one at l3), kept in its slot. */
static __always_inline void hold_packet(__u32 slot, const unsigned char *l3, const struct svc_tuple *flow,
					__u32 netns, __s32 ifindex)
{
	if (!capture_packets)
		return;
	struct svc_packet *p = bpf_map_lookup_elem(&held_packets, &slot);
	if (!p)
		return;
	begin_packet(p, netns, flow);
	if (!l3 || !fill_packet(p, l3, SVC_PKT_LEFT, ifindex, 0))
		p->kind = 0; /* not the slot's last flow's packet either */
}

/* The held flow in slot is released: its first packet goes out, if one was kept. */
static __always_inline void release_held_packet(__u32 slot)
{
	if (!capture_packets)
		return;
	struct svc_packet *held = bpf_map_lookup_elem(&held_packets, &slot);
	if (!held || held->kind != SVC_EV_PACKET)
		return;
	struct svc_packet *p = reserve_packet();
	if (!p)
		return;
	__builtin_memcpy(p, held, sizeof(*p));
	held->kind = 0;
	submit_record(p, sizeof(*p));
}
