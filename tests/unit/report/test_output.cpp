// Output and its two forms: lines kept until flushed, colour, a stdout whose reader left.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>

#include "report/human_output.h"
#include "report/ndjson_output.h"

using namespace svctrace;

namespace {

// What an Output wrote to `f` so far.
std::string written(std::FILE* f) {
  std::fflush(f);
  std::string text;
  std::rewind(f);
  for (int c; (c = std::fgetc(f)) != EOF;) text += static_cast<char>(c);
  return text;
}

RoutingChange route_deleted() {
  RoutingChange c;
  c.kind = RoutingChangeKind::Route;
  c.deleted = true;
  c.what = "172.24.0.0/13 dev enslf1";
  return c;
}

}  // namespace

TEST_CASE("an output keeps its lines until flushed, and clears the status line before each") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  int cleared = 0;
  {
    HumanOutput out(false, f);
    out.before_each_line([&] { cleared++; });
    out.change(route_deleted(), 1.5);
    out.change(route_deleted(), 2.0);
    CHECK(written(f).empty());
    CHECK(cleared == 2);
    out.flush();
    CHECK(written(f) == "⟳ route deleted: 172.24.0.0/13 dev enslf1\n⟳ route deleted: 172.24.0.0/13 dev enslf1\n");
  }
  std::fclose(f);
}

TEST_CASE("the NDJSON output writes the same change as an object, and stats with their type") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    NdjsonOutput out(f);
    out.change(route_deleted(), 1.5);
    out.stats({{"events", 3}});
  }  // flushed when it ends
  CHECK(written(f) ==
        "{\"at_s\":1.5,\"deleted\":true,\"kind\":\"route\",\"type\":\"change\",\"what\":\"172.24.0.0/13 dev enslf1\"}\n"
        "{\"events\":3,\"type\":\"stats\"}\n");
  std::fclose(f);
}

TEST_CASE("the human output shows no stats lines and colours only when asked") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    HumanOutput out(true, f);
    out.stats({{"events", 3}});
    out.change(route_deleted(), 1.5);
  }
  std::string text = written(f);
  CHECK(text.find("events") == std::string::npos);
  CHECK(text.find("\x1b[") != std::string::npos);
  std::fclose(f);
}

TEST_CASE("an output whose reader left stops writing and says why, without SIGPIPE", "[output]") {
  // As svctrace's main does; restored after.
  void (*before)(int) = std::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  std::FILE* w = fdopen(fds[1], "w");
  REQUIRE(w);
  setvbuf(w, nullptr, _IOLBF, 0);  // as stdout is
  {
    HumanOutput out(false, w);
    out.change(route_deleted(), 1.0);
    out.flush();
    CHECK(out.write_error() == 0);
    char buf[256];
    CHECK(read(fds[0], buf, sizeof buf) > 0);
    close(fds[0]);  // the reader leaves
    out.change(route_deleted(), 2.0);
    out.flush();
    CHECK(out.write_error() == EPIPE);
    out.change(route_deleted(), 3.0);  // dropped, and the first error stays
    out.flush();
    CHECK(out.write_error() == EPIPE);
  }
  std::fclose(w);
  std::signal(SIGPIPE, before);
}

