#include "capture/socket_lb.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace svctrace {

namespace {

// The attach types of socket LB, with the names bpftool gives them.
struct ConnectAttach {
  bpf_attach_type type;
  const char* name;
};
constexpr ConnectAttach kConnectAttaches[] = {{BPF_CGROUP_INET4_CONNECT, "connect4"},
                                              {BPF_CGROUP_INET6_CONNECT, "connect6"}};

std::string program_name(uint32_t id) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return "";
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  std::string name;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) name = info.name;
  close(fd);
  return name;
}

// The programs of `attach` at the cgroup open as `fd`: attached there, or (effective) in force there,
// wherever attached. Returns 0 or -errno.
int query(int fd, const ConnectAttach& attach, bool effective, std::vector<uint32_t>& ids) {
  uint32_t count = 64, flags = 0;
  ids.assign(count, 0);
  if (bpf_prog_query(fd, attach.type, effective ? BPF_F_QUERY_EFFECTIVE : 0, &flags, ids.data(), &count) < 0)
    return -errno;
  ids.resize(count);
  return 0;
}

bool known(const std::vector<ConnectProgram>& found, uint32_t id, const char* attach) {
  for (const auto& p : found)
    if (p.id == id && p.attach == attach) return true;
  return false;
}

// Adds the programs attached at `dir`, or, `inherited`, those in force there that were attached above
// it (above this cgroup namespace's root, which hides them) and are not known yet. -errno when the
// kernel would not say.
int scan_cgroup(const std::string& dir, bool inherited, std::vector<ConnectProgram>& found) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int err = 0;
  std::vector<uint32_t> ids;
  for (const auto& attach : kConnectAttaches) {
    if ((err = query(fd, attach, inherited, ids)) < 0) break;
    for (uint32_t id : ids)
      if (!inherited || !known(found, id, attach.name))
        found.push_back({inherited ? dir + " (inherited from above)" : dir, attach.name, id, program_name(id)});
  }
  close(fd);
  return err;
}

}  // namespace

std::string cgroup2_mount(const std::string& mountinfo) {
  std::ifstream in(mountinfo);
  std::string line;
  while (std::getline(in, line)) {
    // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS"
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountpoint, word;
    fields >> id >> parent >> dev >> root >> mountpoint;
    while (fields >> word && word != "-") {
    }
    if (fields >> word && word == "cgroup2") return mountpoint;
  }
  return "";
}

SocketLbScan find_connect_programs(const std::string& root, size_t max_cgroups) {
  namespace fs = std::filesystem;
  SocketLbScan scan;
  if (root.empty()) {
    scan.error = "no cgroup v2 hierarchy is mounted";
    return scan;
  }
  if (int err = scan_cgroup(root, false, scan.programs); err < 0) {
    scan.error = fmt::format("cannot read the BPF programs of cgroup {}: {}", root, std::strerror(-err));
    return scan;
  }
  scan.cgroups_read = 1;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end && scan.cgroups_read < max_cgroups; it.increment(ec)) {
    // A cgroup that goes away meanwhile is skipped: it has no programs left to run.
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (scan_cgroup(it->path().string(), false, scan.programs) == 0) scan.cgroups_read++;
  }
  if (int err = scan_cgroup(root, true, scan.programs); err < 0)
    scan.error = fmt::format("cannot read the BPF programs in force at cgroup {}: {}", root, std::strerror(-err));
  return scan;
}

std::string connect_programs_text(const std::vector<ConnectProgram>& programs) {
  std::string text;
  for (const auto& p : programs)
    text += fmt::format("{}{} (id {}, {}) at {}", text.empty() ? "" : ", ", p.name.empty() ? "a program" : p.name,
                        p.id, p.attach, p.cgroup);
  return text;
}

}  // namespace svctrace
