#include "node/caps.h"

#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace svctrace {

uint64_t effective_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0) return 0;
  return static_cast<uint64_t>(data[1].effective) << 32 | data[0].effective;
}

bool has_capability(uint64_t effective, int cap) { return cap >= 0 && cap < 64 && (effective >> cap) & 1; }

std::vector<std::string> missing_bpf_capabilities(uint64_t effective, BpfUse use) {
  std::vector<std::string> missing;
  if (has_capability(effective, CAP_SYS_ADMIN)) return missing;
  if (!has_capability(effective, CAP_BPF)) missing.emplace_back("CAP_BPF");
  if (use != BpfUse::Netfilter && !has_capability(effective, CAP_PERFMON)) missing.emplace_back("CAP_PERFMON");
  if (use != BpfUse::Tracing && !has_capability(effective, CAP_NET_ADMIN)) missing.emplace_back("CAP_NET_ADMIN");
  return missing;
}

std::string bpf_privilege_hint(uint64_t effective, BpfUse use) {
  std::vector<std::string> missing = missing_bpf_capabilities(effective, use);
  if (missing.empty())
    return " (the capabilities it needs are held, so something else refused it: a kernel lockdown, an LSM "
           "policy, or a user namespace)";
  return fmt::format(" (missing {}; svctrace needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or root)",
                     fmt::join(missing, ", "));
}

}  // namespace svctrace
