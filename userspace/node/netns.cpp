#include "node/netns.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include <cctype>
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

static std::string netns_path(const std::string& name_or_path) {
  return name_or_path.find('/') == std::string::npos ? "/run/netns/" + name_or_path : name_or_path;
}

uint32_t enter_netns(const std::string& name_or_path) {
  std::string path = netns_path(name_or_path);
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

NetnsName netns_name_now(const std::string& name_or_path, uint32_t inode) {
  const std::string path = netns_path(name_or_path);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return errno == ENOENT || errno == ENOTDIR ? NetnsName::Gone : NetnsName::Same;
  if (st.st_ino == inode) return NetnsName::Same;
  // `ip netns del` unmounts the namespace and removes the file; a file left without its mount is no
  // namespace at all.
  struct statfs fs {};
  bool is_netns = statfs(path.c_str(), &fs) == 0 && fs.f_type == NSFS_MAGIC;
  return is_netns ? NetnsName::Another : NetnsName::Gone;
}

size_t other_processes_in_netns(uint32_t inode) {
  DIR* proc = opendir("/proc");
  if (!proc) return 0;
  const std::string self = std::to_string(getpid());
  size_t n = 0;
  while (const dirent* e = readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0])) || self == e->d_name) continue;
    struct stat st {};
    if (stat(fmt::format("/proc/{}/ns/net", e->d_name).c_str(), &st) == 0 && st.st_ino == inode) n++;
  }
  closedir(proc);
  return n;
}

}  // namespace svctrace
