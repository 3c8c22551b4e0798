// Finding socket-level load balancing: where the cgroup v2 hierarchy is, what a scan that could not
// read says, and how the programs found are named to the user. (Attached programs are found in
// tests/e2e/test_socket_lb.sh, which attaches one.)
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "capture/socket_lb.h"

using namespace svctrace;

namespace {
// A mountinfo file with `lines`, removed when the test ends.
struct MountinfoFile {
  std::string path = "/tmp/svctrace-test-mountinfo-" + std::to_string(::getpid());
  explicit MountinfoFile(const std::string& lines) { std::ofstream(path) << lines; }
  ~MountinfoFile() { std::remove(path.c_str()); }
};
}  // namespace

TEST_CASE("the cgroup v2 hierarchy is found where the host mounted it") {
  SECTION("unified: /sys/fs/cgroup") {
    MountinfoFile f(
        "22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n"
        "35 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n");
    CHECK(cgroup2_mount(f.path) == "/sys/fs/cgroup");
  }
  SECTION("hybrid: v1 controllers, and v2 at /sys/fs/cgroup/unified (no optional fields)") {
    MountinfoFile f(
        "30 22 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
        "41 30 0:36 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n"
        "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    CHECK(cgroup2_mount(f.path) == "/sys/fs/cgroup/unified");
  }
  SECTION("none mounted, or no mountinfo") {
    MountinfoFile f("41 30 0:36 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n");
    CHECK(cgroup2_mount(f.path).empty());
    CHECK(cgroup2_mount("/nonexistent/mountinfo").empty());
  }
}

TEST_CASE("a scan that cannot read the cgroups says so instead of finding nothing") {
  SocketLbScan none = find_connect_programs("");
  CHECK(none.programs.empty());
  CHECK(none.error == "no cgroup v2 hierarchy is mounted");
  SocketLbScan missing = find_connect_programs("/nonexistent/cgroup");
  CHECK(missing.cgroups_read == 0);
  CHECK(missing.error.find("/nonexistent/cgroup") != std::string::npos);
}

TEST_CASE("the programs found are named with their id, attach type and cgroup") {
  CHECK(connect_programs_text({}).empty());
  CHECK(connect_programs_text({{"/sys/fs/cgroup", "connect4", 57, "cil_sock4_connect"},
                               {"/sys/fs/cgroup (inherited from above)", "connect6", 58, ""}}) ==
        "cil_sock4_connect (id 57, connect4) at /sys/fs/cgroup, a program (id 58, connect6) at /sys/fs/cgroup (inherited from above)");
}
