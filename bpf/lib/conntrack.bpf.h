/* Reading a conntrack entry, which the programs hold as the address in skb->_nfct. */
#pragma once

#include "base.bpf.h"
#include "counters.bpf.h"
#include "cidr.bpf.h"

/* The entry's two tuples (original direction, then reply) in one probe read, rather than one read
 * per field, which was most of a service flow's cost. nf_conn cannot go through kernel_view: CO-RE
 * cannot tell it from the kernel's nf_conn___init, and when conntrack is a module the type is not in
 * vmlinux's BTF at all. CO-RE finds the array in nf_conn; the tuple itself has kept its layout for
 * over ten years, and its size is checked against the running kernel's. */
static __always_inline bool read_conn_of_past(__u64 ct, struct nf_conntrack_tuple_hash th[2])
{
	return bpf_core_type_size(struct nf_conntrack_tuple_hash) == sizeof(th[0]) &&
	       bpf_core_read(th, 2 * sizeof(th[0]), &((const struct nf_conn *)ct)->tuplehash) == 0;
}

/* The same for an entry a packet holds (skb->_nfct), which cannot be gone: a failure is this build not
 * knowing the kernel's layout, counted and reported by userspace (NAT, replies and drops go unseen).
 * read_conn_of_past is for an entry remembered from an earlier packet, whose memory may have been
 * freed since: its failure says only that the flow is gone (seen as a false warning about the layout
 * while other namespaces' conntrack tables were torn down). */
static __always_inline bool read_conn(__u64 ct, struct nf_conntrack_tuple_hash th[2])
{
	if (!read_conn_of_past(ct, th)) {
		count(SVC_CNT_CONN_UNREADABLE);
		return false;
	}
	return true;
}

/* A tuple of a copy made by read_conn, into a record's. */
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
	/* TCP's and UDP's ports sit at the same offset of the union */
	t->sport = bpf_ntohs(ct_tuple->src.u.all);
	t->dport = bpf_ntohs(ct_tuple->dst.u.all);
}

/* Whether an entry's original destination (th: its tuples, as read_conn copies them) is in the CIDRs:
 * its family if so, else 0. */
static __always_inline __u16 service_family(struct nf_conntrack_tuple_hash th[2])
{
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
