// SPDX-License-Identifier: GPL-2.0
/* Socket-level load balancing in miniature, for tests/e2e/test_socket_lb.sh: a cgroup connect4
 * program that turns a connect() to the lab's Service 172.24.0.1:443 into a connect() to its backend
 * 10.0.0.8:6443, as Cilium's socket LB does, so that no packet to the Service IP ever exists. */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define IP4(a, b, c, d) bpf_htonl(((a) << 24) | ((b) << 16) | ((c) << 8) | (d))

SEC("cgroup/connect4")
int lab_sock_lb(struct bpf_sock_addr *ctx)
{
	if (ctx->user_ip4 == IP4(172, 24, 0, 1) && ctx->user_port == bpf_htons(443)) {
		ctx->user_ip4 = IP4(10, 0, 0, 8);
		ctx->user_port = bpf_htons(6443);
	}
	return 1; /* let the connect go on */
}
