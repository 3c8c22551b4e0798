// SPDX-License-Identifier: GPL-2.0
/* svctrace's kernel side: its programs, each a thin wrapper over the work in the headers beside this
 * file. Every program first makes the same cheap test (is the flow's original destination in the
 * service CIDRs?) and returns straight away when it is not; only flows to a service reach the ring
 * buffer. The programs, by the question each answers:
 *   route_*     which route chose the source for a service IP (a FIB lookup) (route.bpf.h); on a
 *               backend, whether the answer to a SYN found a route back (route_back.bpf.h)
 *   nat_*       what conntrack DNAT'd/SNAT'd a flow to, which device it really leaves by, and its
 *               first reply (nat.bpf.h)
 *   drop_*      the kernel dropping a packet of a flow awaiting its reply (drop.bpf.h)
 *   tcp_*       whether the SYN was answered, refused, or retransmitted (tcp.bpf.h)
 * What they share is in lib/. The programs that read a kernel object through kernel_view come in pairs,
 * one body built twice by two thin wrappers: NAME for kernels with bpf_rdonly_cast (6.2+), NAME_pr
 * ("probe read") for older ones (lib/base.bpf.h, read_mode); userspace loads one of each pair.
 * Records are struct svc_event (include/svctrace/events.h), which the
 * C++ side reads. Program, map and global names are the loader's (through the skeleton) and the e2e
 * tests' (tests/e2e/lib.sh): renaming one breaks them. The kernel keeps 15 characters of a name. */
#include "lib/base.bpf.h"
#include "route.bpf.h"
#include "nat.bpf.h"
#include "drop.bpf.h"
#include "tcp.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- route decision ------------------------------------------------------------------------------ */

/* The best hook, where the kernel allows fentry/fexit: it sees the lookup's result struct. */
static __always_inline int route_fexit_body(struct fib_table *tb, const struct flowi4 *flp, struct fib_result *res,
					    int ret, enum read_mode mode)
{
	on_route_lookup(tb->tb_id, flp, ret == 0 ? res->nhc : NULL, ret, flp->daddr, flp->saddr, mode);
	return 0;
}

SEC("fexit/fib_table_lookup")
int BPF_PROG(route_fexit, struct fib_table *tb, const struct flowi4 *flp, struct fib_result *res,
	     int fib_flags, int ret)
{
	return route_fexit_body(tb, flp, res, ret, READ_VIEW);
}

SEC("fexit/fib_table_lookup")
int BPF_PROG(route_fexit_pr, struct fib_table *tb, const struct flowi4 *flp, struct fib_result *res,
	     int fib_flags, int ret)
{
	return route_fexit_body(tb, flp, res, ret, READ_PROBE);
}

/* The fallback: the fib:fib_table_lookup tracepoint, its arguments BTF-typed. */
static __always_inline int route_tp_btf_body(u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc,
					     int err, enum read_mode mode)
{
	on_route_lookup(tb_id, flp, nhc, err, flp->daddr, flp->saddr, mode);
	return 0;
}

SEC("tp_btf/fib_table_lookup")
int BPF_PROG(route_tp_btf, u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err)
{
	return route_tp_btf_body(tb_id, flp, nhc, err, READ_VIEW);
}

SEC("tp_btf/fib_table_lookup")
int BPF_PROG(route_tp_btf_pr, u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err)
{
	return route_tp_btf_body(tb_id, flp, nhc, err, READ_PROBE);
}

/* The last resort: the same tracepoint as a raw tracepoint, its untyped arguments given their types.
 * Only with bpf_rdonly_cast: every kernel without it that svctrace supports (5.8+) has tp_btf (5.5+,
 * "bpf: Add BPF_PROG_TYPE_TRACING" / BTF-enabled raw tracepoints), so no READ_PROBE twin. */
SEC("raw_tp/fib_table_lookup")
int BPF_PROG(route_raw_tp, u32 tb_id, const struct flowi4 *flp_addr, const struct fib_nh_common *nhc_addr, int err)
{
	const struct flowi4 *flp = kernel_view(struct flowi4, flp_addr);
	const struct fib_nh_common *nhc = nhc_addr ? kernel_view(struct fib_nh_common, nhc_addr) : NULL;
	on_route_lookup(tb_id, flp, nhc, err, flp->daddr, flp->saddr, READ_VIEW);
	return 0;
}

/* IPv6: the fib6:fib6_table_lookup tracepoint. */
SEC("tp_btf/fib6_table_lookup")
int BPF_PROG(route6_tp_btf, const struct net *net, const struct fib6_result *res, struct fib6_table *table,
	     const struct flowi6 *flp)
{
	on_route6_lookup(net, res, table, flp);
	return 0;
}

/* ---- conntrack NAT and replies ------------------------------------------------------------------- */

/* Attached by userspace with BPF_LINK_CREATE to LOCAL_OUT at priority -99, just after DNAT (-100):
 * out is still the device of the route to the service IP, before the re-route. It also sees this
 * host's answers to forwarded flows delivered here (local_answers_awaited). */
SEC("netfilter")
int nat_local_out(struct bpf_nf_ctx *ctx)
{
	return netfilter_hook(ctx->skb, ctx->state, SVC_NAT_LOCAL_OUT);
}

/* POST_ROUTING at priority 101, just after SNAT (100): the device the packet really leaves by. */
SEC("netfilter")
int nat_post_routing(struct bpf_nf_ctx *ctx)
{
	return netfilter_hook(ctx->skb, ctx->state, SVC_NAT_POST_ROUTING);
}

/* PRE_ROUTING at priority -99, just after DNAT: replies coming in, and the first packets of forwarded
 * (pod) flows with the device they came in by. */
SEC("netfilter")
int nat_pre_routing(struct bpf_nf_ctx *ctx)
{
	return netfilter_hook(ctx->skb, ctx->state, SVC_NAT_PRE_ROUTING);
}

/* For kernels without BPF netfilter links (before 6.4) that allow fexit: nf_hook_slow runs the
 * functions of one netfilter hook (NF_INET_*), conntrack's and NAT's among them, and returns 1 when
 * they all accepted the packet. At its exit the packet has been through DNAT (PRE_ROUTING,
 * LOCAL_OUT) or SNAT (POST_ROUTING), as the netfilter programs see it just after; with the same
 * work, it sees what they see, the replies and a forwarded flow's route decision included. A packet
 * a hook dropped, stole or queued is not read: it may be gone. nf_hook_slow is in vmlinux (NAT's own
 * functions are in the nf_nat module, which fexit reaches only from 5.11, with module BTF), and has
 * these arguments in 5.10, 6.1, 6.12 and 6.18. */
SEC("fexit/nf_hook_slow")
int BPF_PROG(nat_hook_slow, struct sk_buff *skb, struct nf_hook_state *state, const struct nf_hook_entries *e,
	     unsigned int s, int ret)
{
	__u32 hook = ret == 1 ? nat_hook_of(state->pf, state->hook) : 0;
	if (hook)
		netfilter_hook(skb, state, hook);
	return 0;
}

/* The fallback for kernels without BPF netfilter links (before 6.4, "bpf: add netfilter program
 * type"). skb->_nfct has had this name and layout since 4.11 ("netfilter: merge nfctinfo into nfct
 * pointer storage area"). */
SEC("tp_btf/net_dev_queue")
int BPF_PROG(nat_dev_queue, struct sk_buff *skb)
{
	on_dev_queue(skb);
	return 0;
}

/* With net_dev_queue, the replies: each packet as it is received, before conntrack. */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(nat_receive, struct sk_buff *skb)
{
	on_receive(skb);
	return 0;
}

/* ---- drops --------------------------------------------------------------------------------------- */

/* The tracepoint has had its reason argument since 5.17 ("net: skb: introduce kfree_skb_reason()",
 * which added it to the tracepoint and to its trace_event_raw_kfree_skb record); reading a tp_btf
 * argument the kernel's tracepoint does not have is refused by the verifier, so the program asks CO-RE
 * whether the record has the field, and on older kernels reports reason 0 (NOT_SPECIFIED), as
 * libbpf-tools' core_fixes.bpf.h does for fields that moved. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(drop_kfree_skb, struct sk_buff *skb, void *location)
{
	__u32 reason = 0;
	if (bpf_core_field_exists(struct trace_event_raw_kfree_skb, reason))
		reason = (__u32)ctx[2];
	on_kfree_skb(skb, reason);
	return 0;
}

/* ---- TCP outcome --------------------------------------------------------------------------------- */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, int oldstate, int newstate)
{
	on_tcp_state(sk, oldstate, newstate, READ_VIEW);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state_pr, const struct sock *sk, int oldstate, int newstate)
{
	on_tcp_state(sk, oldstate, newstate, READ_PROBE);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	on_tcp_retransmit(sk, READ_VIEW);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retrans_pr, const struct sock *sk, const struct sk_buff *skb)
{
	on_tcp_retransmit(sk, READ_PROBE);
	return 0;
}
