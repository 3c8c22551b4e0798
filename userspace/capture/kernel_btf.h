// The running kernel's BTF (its types, which CO-RE relocates against and the hooks are found in):
// /sys/kernel/btf/vmlinux, or a file the user names with --btf where that is not visible (a
// container without the host's /sys) or the kernel does not expose it.
#pragma once
#include <memory>
#include <string>

struct btf;

namespace svctrace {

struct BtfDeleter {
  void operator()(btf* b) const;
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

// The kernel's BTF: from `file` when it is not empty, else the kernel's own. Null (with errno set)
// when it cannot be read.
BtfPtr load_kernel_btf(const std::string& file);

// Checks that `file` is a readable kernel BTF (raw BTF, or an ELF file with a .BTF section, holding
// the kernel's struct sk_buff); the reason it is not, in one line, else empty.
std::string kernel_btf_file_error(const std::string& file);

}  // namespace svctrace
