#include "capture/nf_link.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

namespace svctrace {

namespace {
constexpr int kBpfLinkCreate = 28;  // BPF_LINK_CREATE

// The prefix of union bpf_attr that BPF_LINK_CREATE reads for a netfilter link (uapi linux/bpf.h,
// link_create with its netfilter member). The kernel zero-extends a shorter attr, so this suffices.
struct NetfilterLinkAttr {
  uint32_t prog_fd;
  uint32_t target_fd;
  uint32_t attach_type;
  uint32_t flags;
  uint32_t pf;
  uint32_t hooknum;
  int32_t priority;
  uint32_t netfilter_flags;
};
static_assert(offsetof(NetfilterLinkAttr, pf) == 16, "netfilter part of link_create starts at byte 16");
static_assert(sizeof(NetfilterLinkAttr) == 32);
}  // namespace

int create_netfilter_link(int prog_fd, uint32_t pf, uint32_t hooknum, int32_t priority) {
  NetfilterLinkAttr attr{};
  attr.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.attach_type = kAttachNetfilter;
  attr.pf = pf;
  attr.hooknum = hooknum;
  attr.priority = priority;
  long fd = syscall(__NR_bpf, kBpfLinkCreate, &attr, sizeof(attr));
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace svctrace
