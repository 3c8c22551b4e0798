#include "capture/kernel_btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace svctrace {

void BtfDeleter::operator()(btf* b) const { btf__free(b); }

BtfPtr load_kernel_btf(const std::string& file) {
  btf* b = file.empty() ? btf__load_vmlinux_btf() : btf__parse(file.c_str(), nullptr);
  if (libbpf_get_error(b)) {  // libbpf 1.x returns NULL with errno; 0.x an error pointer
    errno = static_cast<int>(-libbpf_get_error(b));
    return nullptr;
  }
  return BtfPtr(b);
}

std::string kernel_btf_file_error(const std::string& file) {
  // Opened first so that a missing or unreadable file is not called "not BTF".
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fmt::format("--btf {}: cannot read it: {}", file, std::strerror(errno));
  close(fd);
  BtfPtr b = load_kernel_btf(file);
  if (!b)
    return fmt::format("--btf {}: not a BTF file (give a copy of a kernel's /sys/kernel/btf/vmlinux, or a "
                       "vmlinux with BTF)", file);
  // Any object's BTF parses too (an eBPF .o has a .BTF section): the kernel's has its core types.
  if (btf__find_by_name_kind(b.get(), "sk_buff", BTF_KIND_STRUCT) < 0)
    return fmt::format("--btf {}: BTF, but not a kernel's (it has no struct sk_buff)", file);
  return {};
}

}  // namespace svctrace
