// Output and its two forms: lines kept until flushed, colour, wrapping, counts in words, a stdout whose
// reader left.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "diagnose/diagnosis.h"
#include "fake_routing.h"
#include "incident_flows.h"
#include "report/human_output.h"
#include "report/ndjson_output.h"

using namespace svctrace;
using namespace test;

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

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// Columns as a terminal counts them (UTF-8 characters; no tabs in these texts).
size_t columns(const std::string& line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

// The incident's diagnosis as the human output prints it at `width` columns.
std::string incident_printed(size_t width) {
  FakeRouting routing;
  Diagnosis d = diagnose(incident_flow(), routing, {Cidr::parse("172.24.0.0/13")});
  d.pid = 812;
  d.comm = "kubelet";
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    HumanOutput out(false, f, width);
    std::string ndjson = "{}";
    out.diagnosis(d, {ndjson});
  }
  std::string text = written(f);
  std::fclose(f);
  return text;
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

TEST_CASE("the closing line says 1 flow, 1 diagnosis, 1 event", "[output]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    HumanOutput out(false, f);
    Output::Summary s;
    s.duration_s = 2.0;
    s.by_state = {{"unanswered", 1}};
    s.diagnoses = 1;
    s.flows_in_report = 1;
    s.events = 1;
    out.summary(s);
  }
  CHECK(written(f) == "done in 2.0 s: 1 flow (1 unanswered), 1 diagnosis; 1 event, 0 lost, 0 evicted\n");
  std::fclose(f);
}

TEST_CASE("the incident's diagnosis at 110 columns: no line wider, no lone full stop, the fix whole", "[output]") {
  // Unwrapped, its explanation is 111 columns: a 110-column terminal put the final "." on a line of
  // its own.
  for (size_t width : {110, 100, 80, 60}) {
    std::string text = incident_printed(width);
    INFO(text);
    for (const std::string& line : lines_of(text)) {
      if (line.rfind("  fix: ", 0) == 0) continue;
      CHECK(columns(line) <= width);
      CHECK(line.find_first_not_of(" .") != std::string::npos);
    }
    CHECK(text.find("\n  fix: ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12\n") != std::string::npos);
    CHECK(text.find("\"default via 10.141.13.1 dev enslf1\"") != std::string::npos);
    CHECK(text.rfind("✗ 10.141.13.182:52946 → 172.24.0.1:443 ", 0) == 0);
  }
  // The words are the same as unwrapped.
  auto squeeze = [](std::string s) {
    std::string out;
    std::istringstream in(s);
    for (std::string w; in >> w;) out += w + " ";
    return out;
  };
  CHECK(squeeze(incident_printed(60)) == squeeze(incident_printed(0)));
}

TEST_CASE("the human lines name the Service and the pod where known and only there", "[output]") {
  FakeRouting routing;
  Flow f = incident_flow();
  f.pid = 4242;
  f.comm = "nc";
  f.container = {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0f0e-pod", "default/client"};
  CHECK(human_flow(f, routing).find("default/") == std::string::npos);
  f.service = "default/kubernetes:https";
  f.pod = "default/client";
  std::string line = human_flow(f, routing);
  CHECK(line.find("→ 172.24.0.1:443 default/kubernetes:https → 10.0.0.8:6443") != std::string::npos);
  CHECK(line.find(" [nc 4242 pod default/client container 0123456789ab]") != std::string::npos);
  Diagnosis d = diagnose(f, routing, {Cidr::parse("172.24.0.0/13")});
  std::string text = human_diagnosis(d);
  CHECK(text.rfind("✗ 10.141.13.182:52946 → 172.24.0.1:443 default/kubernetes:https (DNAT 10.0.0.8:6443)", 0) == 0);
  CHECK(text.find("[nc 4242 pod default/client container 0123456789ab]") != std::string::npos);
  // A flow forwarded from a pod: no process of this node's, its pod alone.
  Flow fwd = incident_flow();
  fwd.pod = "shop/client-7d9f8";
  CHECK(human_flow(fwd, routing).find(" [pod shop/client-7d9f8]") != std::string::npos);
}
