// Finding the container a process runs in, from the cgroup path the container runtime gave it.
#pragma once
#include <string>
#include <string_view>

#include "correlate/container.h"

namespace svctrace {

// From /proc/PID/cgroup's text: the last 64-hex component of any hierarchy's path, as the runtimes
// name them: ".../docker-<id>.scope", ".../cri-containerd-<id>.scope", ".../crio-<id>.scope" (systemd
// driver), ".../<id>" (cgroupfs driver); the pod from "pod<uid>" (dashes, or underscores under systemd).
Container container_from_cgroups(std::string_view proc_cgroup);

// Reads /proc/PID/cgroup; an empty Container when the process is gone, in no container, or not the
// one the kernel named: pids come from the host's pid namespace, and in a pod without hostPID (or once
// the pid is reused) /proc/PID is another process, which /proc/PID/comm tells.
Container container_of_pid(uint32_t pid, const std::string& comm);

}  // namespace svctrace
