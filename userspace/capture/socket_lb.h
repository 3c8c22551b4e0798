// Socket-level load balancing: on some nodes (Cilium's socket LB, kube-proxy replacements) a cgroup
// BPF program rewrites a connect() to a Service IP into a connect() to a backend, before any packet
// exists. No packet to the Service IP then reaches the route or NAT hooks, and svctrace, tracing the
// Service CIDR, sees nothing at all. It cannot trace through that; it can say so, and what to trace
// instead. This finds the cgroup connect4/connect6 programs attached on the node.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace svctrace {

struct ConnectProgram {
  std::string cgroup;  // the cgroup directory it is attached to
  std::string attach;  // "connect4" or "connect6"
  uint32_t id = 0;     // the program's id (bpftool prog show id ID)
  std::string name;    // the program's name, when the kernel tells it
};

struct SocketLbScan {
  std::vector<ConnectProgram> programs;
  size_t cgroups_read = 0;
  std::string error;  // why the cgroups could not be read: then `programs` proves nothing
};

// The cgroup v2 hierarchy's mount point from /proc/self/mountinfo ("/sys/fs/cgroup", or
// "/sys/fs/cgroup/unified" on hybrid hosts), or "" when none is mounted.
std::string cgroup2_mount(const std::string& mountinfo = "/proc/self/mountinfo");

// Every connect4/connect6 program attached at `root` or below it (at most max_cgroups directories),
// and those `root` inherits from cgroups above it that this cgroup namespace hides (a DaemonSet sees
// its own cgroup as the root; the programs of the node's root apply to it all the same).
SocketLbScan find_connect_programs(const std::string& root, size_t max_cgroups = 20000);

// One line for the user about the programs found ("cil_sock4_connect (id 57, connect4) at
// /sys/fs/cgroup"), or "" when there are none.
std::string connect_programs_text(const std::vector<ConnectProgram>& programs);

}  // namespace svctrace
