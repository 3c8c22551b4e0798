// SPDX-License-Identifier: GPL-2.0
/* The floor of BPF's per-program cost, for bench.sh's per-program table: programs that do nothing,
 * attached where svctrace's are (bench/nf_floor.cpp), so that kernel.bpf_stats_enabled's figure for
 * them is the cost of being called at all (the dispatch, and the statistics' own clock reads) on this
 * machine, under the same load. */
#include "../bpf/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("netfilter")
int floor_local_out(struct bpf_nf_ctx *ctx)
{
	return 1; /* NF_ACCEPT */
}

SEC("netfilter")
int floor_post_routing(struct bpf_nf_ctx *ctx)
{
	return 1;
}

SEC("netfilter")
int floor_pre_routing(struct bpf_nf_ctx *ctx)
{
	return 1;
}

/* Before 6.4 (no netfilter links) svctrace's NAT role is fexit on the function that runs each
 * netfilter hook where the kernel allows fexit, else the driver queue and the receive path: so is
 * the floor's. (Its name fits the 15 characters bpftool shows.) */
SEC("fexit/nf_hook_slow")
int BPF_PROG(floor_hook_slow, struct sk_buff *skb, struct nf_hook_state *state, const struct nf_hook_entries *e,
	     unsigned int s, int ret)
{
	return 0;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(floor_dev_queue, struct sk_buff *skb)
{
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(floor_receive, struct sk_buff *skb)
{
	return 0;
}

/* svctrace's route role is fexit where the kernel allows it, tp_btf where not: the floor follows. */
SEC("fexit/fib_table_lookup")
int BPF_PROG(floor_route_fexit, struct fib_table *tb, const struct flowi4 *flp, struct fib_result *res, int flags,
	     int ret)
{
	return 0;
}

SEC("tp_btf/fib_table_lookup")
int BPF_PROG(floor_route_tp, u32 tb_id, const struct flowi4 *flp, const struct fib_nh_common *nhc, int err)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_tcp_state, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(floor_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(floor_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	return 0;
}
