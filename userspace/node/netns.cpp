#include "node/netns.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "node/caps.h"

namespace svctrace {

uint32_t current_netns_inode() {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0)
    throw NetnsError(fmt::format("cannot read /proc/self/ns/net: {}", std::strerror(errno)));
  return static_cast<uint32_t>(st.st_ino);
}

uint32_t enter_netns(const std::string& name_or_path) {
  std::string path = name_or_path.find('/') == std::string::npos ? "/run/netns/" + name_or_path : name_or_path;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
    throw NetnsError(fmt::format("network namespace \"{}\" not found ({}: {})", name_or_path, path,
                                 std::strerror(errno)));
  if (fd < 0) {
    // /proc/PID/ns/* of a process holding capabilities svctrace lacks is a ptrace access check.
    int err = errno;
    bool proc = path.rfind("/proc/", 0) == 0 && !has_capability(effective_capabilities(), CAP_SYS_PTRACE);
    throw NetnsError(fmt::format("cannot open network namespace \"{}\" ({}: {}){}", name_or_path, path,
                                 std::strerror(err), proc ? " (missing CAP_SYS_PTRACE, which opening another "
                                                            "process's namespace needs)" : ""),
                     false);
  }
  struct stat st {};
  fstat(fd, &st);
  int rc = setns(fd, CLONE_NEWNET);
  int err = errno;
  close(fd);
  if (rc != 0 && err == EPERM)
    throw NetnsError(fmt::format("cannot enter network namespace \"{}\": {}{}", name_or_path, std::strerror(err),
                                 has_capability(effective_capabilities(), CAP_SYS_ADMIN)
                                     ? ""
                                     : " (missing CAP_SYS_ADMIN, which setns(2) needs to enter a network namespace)"),
                     false);
  if (rc != 0)
    throw NetnsError(fmt::format("cannot enter network namespace \"{}\": {}{}", name_or_path, std::strerror(err),
                                 err == EINVAL ? " (not a network namespace)" : ""));
  return static_cast<uint32_t>(st.st_ino);
}

}  // namespace svctrace
