/* What every part of svctrace's kernel side starts from: the kernel's types, libbpf's helpers, the
 * records shared with userspace, and the few kernel constants vmlinux.h does not carry (macros, which
 * BTF does not keep). Constants that are enum members in the kernel (RTN_*, RT_TABLE_*, TCP_*, IP_CT_*,
 * IPS_*, IPPROTO_TCP) come from vmlinux.h and are not defined again here. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "svctrace/events.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMPV6 58
#define NF_ACCEPT 1
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define NFCT_INFOMASK 7UL /* skb->_nfct: the conntrack entry's address, its ctinfo in the low 3 bits */
#define LOOPBACK_IFINDEX 1 /* lo: the iif of every output route lookup */

/* Reading a kernel object the program holds only as a number, or as some other type (a raw
 * tracepoint's untyped arguments, the fib_nh a fib_nh_common starts, the inet_sock a sock is part of):
 * bpf_rdonly_cast gives it its BTF type, so its fields are read with plain loads the JIT makes
 * fault-safe, rather than one bpf_probe_read_kernel() per field, which was most of a service flow's
 * cost. The kfunc (6.2+, "bpf: Add a kfunc for generic type cast") becomes a register move.
 * Conntrack's nf_conn is read differently: see read_conn.
 * The extern is weak: a kernel without the kfunc still loads the object, as long as none of the
 * programs it loads calls it (userspace turns those off; see read_mode). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
#define kernel_view(type, addr) ((const type *)bpf_rdonly_cast((const void *)(addr), bpf_core_type_id_kernel(type)))

/* How a program reads such objects. Each affected program is written once, as an always-inline body
 * taking a read_mode, and built twice by two thin SEC() wrappers passing a constant, which the
 * compiler folds: READ_VIEW (kernel_view and plain loads) for kernels with bpf_rdonly_cast, and
 * READ_PROBE (BPF_CORE_READ, one bpf_probe_read_kernel() per field) for older ones. Userspace looks the
 * kfunc up in the running kernel's BTF and loads one of each pair. Pointers the program's own
 * arguments give it BTF-typed (tp_btf, fexit) are read directly in both modes. */
enum read_mode { READ_VIEW, READ_PROBE };

/* addr as a pointer to type, for kernel_read. */
#define kernel_ptr(mode, type, addr) \
	((mode) == READ_VIEW ? kernel_view(type, addr) : (const type *)(addr))
/* ptr->a->b..., ptr from kernel_ptr (the fields as BPF_CORE_READ takes them). */
#define kernel_read(mode, ptr, ...) \
	((mode) == READ_VIEW ? ___arrow(ptr, __VA_ARGS__) : BPF_CORE_READ(ptr, __VA_ARGS__))

/* An IPv4 address into one of the records' 16-byte address fields (its first 4 bytes). */
static __always_inline void put_v4(__u8 *dst16, __be32 addr)
{
	__builtin_memcpy(dst16, &addr, 4);
}
