// Entering the traced network namespace, the way `ip netns exec NAME` does.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace svctrace {

struct NetnsError : std::runtime_error {
  // False when the namespace is there but svctrace may not enter it: a privilege error, not a usage one.
  bool usage;
  explicit NetnsError(const std::string& what, bool usage_error = true)
      : std::runtime_error(what), usage(usage_error) {}
};

// Inode number of the calling thread's network namespace (what BPF reads as net->ns.inum).
uint32_t current_netns_inode();

// NAME means /run/netns/NAME (made by `ip netns add`); anything with a '/' is a path such as
// /proc/PID/ns/net. Moves the process into it; returns its inode. Throws NetnsError.
uint32_t enter_netns(const std::string& name_or_path);

}  // namespace svctrace
