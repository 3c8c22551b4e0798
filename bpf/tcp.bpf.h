/* Whether a connect() to a service IP was answered, refused, or retransmitted its SYN. */
#pragma once

#include "lib/base.bpf.h"
#include "lib/ringbuf.bpf.h"
#include "lib/cidr.bpf.h"
#include "lib/held.bpf.h"

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

static __always_inline void record_tcp(const struct sock *sk, __u32 kind, int oldstate, int newstate,
				       enum read_mode mode)
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
	/* inet_sport rather than skc_num: tcp_set_state(TCP_CLOSE) gives the port back (skc_num = 0)
	 * before the tracepoint fires; inet_sport still has it. */
	e->tuple.sport = bpf_ntohs(kernel_read(mode, kernel_ptr(mode, struct inet_sock, sk), inet_sport));
	e->tuple.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	e->tcp.old_state = oldstate;
	e->tcp.new_state = newstate;
	e->tcp.sk_err = sk->sk_err;
	e->tcp.sk_err_soft = sk->sk_err_soft;
	submit_event(e);
}

/* A socket leaving SYN_SENT: for ESTABLISHED it was answered, for CLOSE with ECONNREFUSED refused.
 * sk_protocol has been a plain u16 since 5.6 ("net: Make sk_protocol a 16-bit value"); it was a
 * bitfield before, which a direct load cannot read; svctrace's floor is above that (ring buffer,
 * 5.8). */
static __always_inline void on_tcp_state(const struct sock *sk, int oldstate, int newstate, enum read_mode mode)
{
	if (oldstate != TCP_SYN_SENT || sk->sk_protocol != IPPROTO_TCP || !tcp_sock_to_service(sk))
		return;
	/* Connected: held flows were counted at their SYN-ACK (held.bpf.h); one released by then has its
	 * reply reported, which is all userspace needs to call it answered. */
	if (newstate == TCP_ESTABLISHED && !every_flow)
		return;
	record_tcp(sk, SVC_EV_TCP_STATE, oldstate, newstate, mode);
}

static __always_inline void on_tcp_retransmit(const struct sock *sk, enum read_mode mode)
{
	if (sk->__sk_common.skc_state != TCP_SYN_SENT || !tcp_sock_to_service(sk))
		return;
	record_tcp(sk, SVC_EV_TCP_RETRANS, TCP_SYN_SENT, TCP_SYN_SENT, mode);
}
