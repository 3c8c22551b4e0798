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

// What --netns NAME (or PATH) leads to now, for a namespace svctrace entered by it: svctrace, a process
// in it, keeps the namespace alive after `ip netns del` removed its name (or after the process of a
// /proc/PID/ns/net path exited), so only the name tells that it went away.
enum class NetnsName { Same, Gone, Another };
NetnsName netns_name_now(const std::string& name_or_path, uint32_t inode);

// How many processes, other than svctrace itself, are in the network namespace of that inode (from
// /proc/PID/ns/net, as `ip netns pids` finds them).
size_t other_processes_in_netns(uint32_t inode);

}  // namespace svctrace
