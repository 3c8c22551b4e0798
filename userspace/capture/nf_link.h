// BPF netfilter links (kernel >= 6.4). Debian's libbpf 1.1 predates them, so the one bpf(2) call that
// creates one lives here, with the kernel's numbers spelled out.
#pragma once
#include <cstdint>

namespace svctrace {

constexpr uint32_t kProgTypeNetfilter = 32;  // BPF_PROG_TYPE_NETFILTER (uapi, 6.4)
constexpr uint32_t kAttachNetfilter = 45;    // BPF_NETFILTER (uapi, 6.4)

// Attaches a loaded BPF_PROG_TYPE_NETFILTER program to hook `hooknum` (NF_INET_*) of protocol family
// `pf` (NFPROTO_*) at `priority`, in the calling thread's network namespace. Returns the link fd, or
// -errno. Closing the fd detaches.
int create_netfilter_link(int prog_fd, uint32_t pf, uint32_t hooknum, int32_t priority);

}  // namespace svctrace
