// --duration, --stats-interval and the files written at exit, checked in the user's words
// (cli/validators.h): one line that says what is wanted, not CLI11's range of doubles.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "cli/validators.h"

using namespace svctrace::cli;

namespace {

// The error `--duration ARG` parses to, or "" when it parses.
std::string duration_error(const std::string& value, double* parsed = nullptr) {
  double duration = 0;
  CLI::App app;
  app.add_option("--duration", duration)->type_name("SEC")->check(positive_seconds());
  std::vector<const char*> argv{"svctrace", "--duration", value.c_str()};
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  if (parsed) *parsed = duration;
  return "";
}

// A temporary directory, removed with what is in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/svctrace-unit-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

}  // namespace

TEST_CASE("a duration that is not a positive number of seconds is said so, in one short line", "[cli]") {
  for (const char* bad : {"-1", "0", "abc", "", "1e400", "nan", "inf", "5s"}) {
    std::string error = duration_error(bad);
    INFO(bad);
    CHECK(error == "--duration: must be a positive number of seconds, not \"" + std::string(bad) + "\"");
  }
  CHECK(duration_error("1e10") == "--duration: must be a positive number of seconds, at most 1000000000");
  double parsed = 0;
  CHECK(duration_error("0.5", &parsed).empty());
  CHECK(parsed == 0.5);
  CHECK(duration_error("60", &parsed).empty());
  CHECK(parsed == 60);
}

TEST_CASE("a file to write at exit: the part of its path that is wrong is named", "[cli]") {
  TempDir dir;
  const std::string file = dir.path + "/hosts";
  std::ofstream(file) << "127.0.0.1 localhost\n";
  CHECK(output_path_error(dir.path + "/r.json").empty());
  CHECK(output_path_error(file + "/x.json") == file + " is not a directory");
  CHECK(output_path_error(file + "/x/y.json") == file + " is not a directory");
  CHECK(output_path_error(dir.path + "/none/r.json") == "directory " + dir.path + "/none does not exist");
  CHECK(output_path_error(dir.path) == dir.path + " is a directory, not a file");
  CHECK(output_path_error(dir.path + "/") == dir.path + "/ is a directory, not a file");
  if (geteuid() != 0) {  // root writes anywhere
    REQUIRE(chmod(dir.path.c_str(), 0500) == 0);
    CHECK(output_path_error(dir.path + "/r.json") == "directory " + dir.path + " is not writable");
    chmod(dir.path.c_str(), 0700);
  }
}
