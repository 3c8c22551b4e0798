// The healthy traffic as counts per service (session/service_stats.h), and what a session prints of
// it: by default nothing per healthy flow, a flow line just before each failed flow's diagnosis, and
// the counts each stats interval; with --all-flows a line per flow and outcome. The kernel's own counts
// (held flows) join the same rows.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>

#include "fake_node.h"
#include "report/ndjson_output.h"
#include "session/recording.h"
#include "session/service_stats.h"
#include "session/session.h"
#include "synthetic_events.h"

using namespace svctrace;
using namespace test;
using nlohmann::json;

namespace {

// A decided flow to the incident's service, answered after connect_us (or failed with verdict).
Flow decided_flow(uint16_t sport, FlowState state, uint64_t connect_us = 0, const std::string& verdict = "") {
  Flow f;
  f.key = FlowKey::from_tuple(kNetns, tuple("10.0.0.12", sport, "172.24.0.1", 443));
  f.dnat_ip = ip("10.0.0.8");
  f.dnat_port = 6443;
  f.first_seen_ns = 1000 * kMs;
  f.reply_ns = state == FlowState::Answered ? f.first_seen_ns + connect_us * 1000 : 0;
  f.state = state;
  f.verdict = verdict;
  return f;
}

// f, first seen at first_seen_ns instead, answered (if it was) as long after.
Flow seen_at(Flow f, uint64_t first_seen_ns) {
  if (f.reply_ns) f.reply_ns = f.reply_ns - f.first_seen_ns + first_seen_ns;
  f.first_seen_ns = first_seen_ns;
  return f;
}

// What a session printed: NDJSON lines, parsed.
struct Printed {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* file = open_memstream(&buf, &size);
  ~Printed() {
    if (file) std::fclose(file);
    std::free(buf);
  }
  std::vector<json> lines() {
    std::fflush(file);
    std::vector<json> out;
    std::istringstream in(std::string(buf, size));
    for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
    return out;
  }
  size_t count(const std::string& type) {
    size_t n = 0;
    for (const auto& l : lines()) n += l["type"] == type;
    return n;
  }
};

// One connect through the incident lab's node: answered (a SYN-ACK after 2 ms) or not.
void connect(Session& s, uint64_t ts, uint16_t sport, bool answered) {
  const svc_tuple orig = tuple("10.0.0.12", sport, "172.24.0.1", 443);
  const svc_tuple rep = tuple("10.0.0.8", 6443, "10.0.0.12", sport);
  s.on_event(route(ts, orig, 254, 2, nullptr));
  s.on_event(nat(ts + 10'000, orig, rep, SVC_NAT_POST_ROUTING, 3, 2));
  if (answered) s.on_event(reply(ts + 2 * kMs, orig, 3));
}

SessionOptions lab_options(bool all_flows) {
  SessionOptions opts;
  opts.cidrs = {Cidr::parse("172.24.0.0/13")};
  opts.all_flows = all_flows;
  opts.stats_interval_ns = 1000 * kMs;
  return opts;
}

}  // namespace

TEST_CASE("a log2 histogram gives each quantile as its bucket's upper bound") {
  Log2Histogram h;
  CHECK(h.quantile_upper_us(0.5) == 0);
  for (int i = 0; i < 99; i++) h.add(1000);  // [512, 1024) µs
  h.add(100'000);                            // [65536, 131072) µs
  CHECK(h.count() == 100);
  CHECK(h.quantile_upper_us(0.5) == 1024);
  CHECK(h.quantile_upper_us(0.99) == 1024);
  CHECK(h.quantile_upper_us(1.0) == 131072);
  Log2Histogram zero;
  zero.add(0);
  zero.add(1);
  CHECK(zero.quantile_upper_us(1.0) == 2);
  CHECK(zero.json() == json::array({2}));
}

TEST_CASE("services are counted per backend and egress, the failing first") {
  ServiceStats stats;
  for (uint16_t i = 0; i < 10; i++) stats.add(decided_flow(40000 + i, FlowState::Answered, 3000), "enslf1", 1000 * kMs);
  Flow failed = decided_flow(41000, FlowState::Unanswered, 0, "asymmetric_source");
  failed.dnat_ip = ip("10.0.0.9");
  stats.add(failed, "enslf0", 1000 * kMs);
  json rows = stats.rows(1500 * kMs);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0]["backend"] == "10.0.0.9:6443");
  CHECK(rows[0]["failed"] == 1);
  CHECK(rows[0]["verdict"] == "asymmetric_source");
  CHECK(rows[0]["answered_pct"] == 0.0);
  CHECK(rows[1]["backend"] == "10.0.0.8:6443");
  CHECK(rows[1]["egress_dev"] == "enslf1");
  CHECK(rows[1]["flows"] == 10);
  CHECK(rows[1]["answered_pct"] == 100.0);
  CHECK(rows[1]["connect_p50_ms"] == 4.096);  // 3 ms lies in [2.048, 4.096)
  CHECK(rows[1]["flows_in_interval"] == 10);
  CHECK(stats.rows(1500 * kMs, 1).size() == 1);
  stats.end_interval();
  CHECK(stats.rows(1500 * kMs)[1]["flows_in_interval"] == 0);
  // Quiet for longer than the rate's window: no rate.
  CHECK(stats.rows(9000 * kMs)[1]["flows_per_s"] == 0.0);
}

TEST_CASE("a flow answered after its diagnosis moves from failed to answered") {
  ServiceStats stats;
  Flow f = decided_flow(40000, FlowState::Unanswered, 0, "asymmetric_source");
  stats.add(f, "enslf0", 1000 * kMs);
  f.state = FlowState::Answered;  // the correlator's late answer keeps the verdict
  f.reply_ns = f.first_seen_ns + 1500 * kMs;
  stats.add(f, "enslf0", 2500 * kMs);
  json row = stats.rows(2500 * kMs)[0];
  CHECK(row["flows"] == 1);
  CHECK(row["failed"] == 0);
  CHECK(row["answered"] == 1);
  CHECK(row["verdict"] == "answered");
}

TEST_CASE("a row's counts over time land in the bucket of each flow's first sight, from the start") {
  ServiceStats stats(1000 * kMs);  // the session started at 1 s
  stats.add(seen_at(decided_flow(40000, FlowState::Answered, 3000), 1200 * kMs), "enslf1", 1300 * kMs);  // bucket 0
  // 2.5 s in: bucket 2
  stats.add(seen_at(decided_flow(40001, FlowState::Answered, 100'000), 3500 * kMs), "enslf1", 3600 * kMs);
  // Decided 1.5 s after it was first seen, drawn (and counted) where it started.
  stats.add(seen_at(decided_flow(40002, FlowState::Unanswered, 0, "asymmetric_source"), 3700 * kMs), "enslf1",
            5200 * kMs);
  CHECK(stats.rows(5500 * kMs)[0].count("over_time") == 0);  // the periodic rows stay small
  json t = stats.rows(5500 * kMs, 0, ServiceStats::Detail::OverTime)[0]["over_time"];
  CHECK(t["bucket_s"] == 1.0);
  CHECK(t["answered"] == json::array({1, 0, 1, 0, 0}));  // 4.5 s: five buckets
  CHECK(t["failed"] == json::array({0, 0, 1, 0, 0}));
  CHECK(t["connect_p50_ms"] == json::array({4.096, nullptr, 131.072, nullptr, nullptr}));
  CHECK(t["connect_p99_ms"][2] == 131.072);
}

TEST_CASE("a row over time keeps at most 60 buckets: past them, neighbours merge and the width doubles") {
  ServiceStats stats;
  CountedFlows counted{IPPROTO_TCP, "172.24.0.1:443", "10.0.0.8:6443", "", 1, {}};
  counted.connect_us_log2[12] = 1;  // about 4 ms
  for (uint64_t s = 0; s < 150; s++) {  // a flow each second, and one counted by the kernel
    const uint64_t seen = s * 1000 * kMs + 10 * kMs;
    stats.add(seen_at(decided_flow(static_cast<uint16_t>(40000 + s), FlowState::Answered, 1000), seen), "enslf1",
              seen + 2 * kMs);
    if (s == 59) {
      json t = stats.rows(59'500 * kMs, 0, ServiceStats::Detail::OverTime)[0]["over_time"];
      CHECK(t["bucket_s"] == 1.0);
      CHECK(t["answered"].size() == 60);
    }
  }
  stats.add_answered(counted, "enslf1", 149'500 * kMs);
  json row = stats.rows(150'000 * kMs, 0, ServiceStats::Detail::OverTime)[0];
  json t = row["over_time"];
  CHECK(t["bucket_s"] == 4.0);  // 150 s in 60 buckets: 1 s, 2 s, then 4 s
  REQUIRE(t["answered"].size() == 38);  // 150 s / 4 s, rounded up
  uint64_t total = 0;
  for (const auto& n : t["answered"]) total += n.get<uint64_t>();
  CHECK(total == row["answered"]);
  CHECK(total == 151);
  CHECK(t["answered"][0] == 4);
  CHECK(t["answered"][37] == 3);  // 148 s, 149 s, and the kernel's count at 149.5 s
  CHECK(t["connect_p50_ms"][0] == 1.024);  // [512, 1024) µs: 1 ms is 1000 µs
  CHECK(t["connect_p99_ms"][37] == 8.192);  // the kernel's 4 ms answer is the slowest in it
  // Read later, every row's buckets are widened to the same width, covering the whole run.
  CHECK(stats.rows(250'000 * kMs, 0, ServiceStats::Detail::OverTime)[0]["over_time"]["bucket_s"] == 8.0);
}

TEST_CASE("a flow answered after its diagnosis moves from failed to answered in its bucket too") {
  ServiceStats stats;
  Flow f = decided_flow(40000, FlowState::Unanswered, 0, "asymmetric_source");  // first seen at 1 s
  stats.add(f, "enslf0", 2500 * kMs);
  // Past 60 buckets of 1 s: they merge into 2 s ones.
  stats.add(seen_at(decided_flow(40001, FlowState::Answered, 1000), 65'000 * kMs), "enslf0", 65'100 * kMs);
  f.state = FlowState::Answered;
  f.reply_ns = f.first_seen_ns + 1500 * kMs;
  stats.add(f, "enslf0", 70'000 * kMs);
  json t = stats.rows(70'000 * kMs, 0, ServiceStats::Detail::OverTime)[0]["over_time"];
  CHECK(t["bucket_s"] == 2.0);
  CHECK(t["answered"][0] == 1);  // bucket 1 of 1 s, merged into bucket 0 of 2 s
  CHECK(t["failed"][0] == 0);
  CHECK(t["answered"][32] == 1);
}

TEST_CASE("a session prints no line per healthy flow, but counts it, unless all flows are asked for") {
  for (bool all_flows : {false, true}) {
    DYNAMIC_SECTION("all_flows " << all_flows) {
      FakeNode node;
      Printed printed;
      NdjsonOutput out(printed.file);
      Session session(lab_options(all_flows), node, {}, out);
      for (uint16_t i = 0; i < 20; i++) connect(session, (1 + i) * kMs, static_cast<uint16_t>(20000 + i), true);
      session.tick(100 * kMs, {});
      session.tick(1100 * kMs, {});  // a stats interval
      CHECK(printed.count("flow") == (all_flows ? 20 : 0));
      CHECK(printed.count("outcome") == (all_flows ? 20 : 0));
      std::vector<json> services;
      for (const auto& l : printed.lines())
        if (l["type"] == "services") services.push_back(l);
      REQUIRE(services.size() == 1);
      CHECK(services[0]["services"][0]["answered"] == 20);
      CHECK(services[0]["services"][0]["egress_dev"] == "enslf1");
    }
  }
}

TEST_CASE("a failed flow's own line comes just before its diagnosis") {
  FakeNode node;
  Printed printed;
  NdjsonOutput out(printed.file);
  Session session(lab_options(false), node, {}, out);
  connect(session, 1 * kMs, 20000, true);
  connect(session, 2 * kMs, 20001, false);
  session.tick(100 * kMs, {});
  session.tick(3000 * kMs, {});
  std::vector<json> lines = printed.lines();
  std::vector<std::string> types;
  for (const auto& l : lines)
    if (l["type"] != "stats" && l["type"] != "services") types.push_back(l["type"]);
  REQUIRE(types == std::vector<std::string>{"flow", "diagnosis"});
  for (const auto& l : lines)
    if (l["type"] == "flow") CHECK(l["flow"]["sport"] == 20001);
  json report = session.finish(3.0, {});
  session.summarize();
  json summary = printed.lines().back();
  REQUIRE(summary["type"] == "summary");
  REQUIRE(summary["services"].size() == 1);
  CHECK(summary["services"][0]["flows"] == 2);
  CHECK(summary["services"][0]["answered"] == 1);
  CHECK(summary["services"][0]["failed"] == 1);
}

TEST_CASE("the kernel's counts of answered flows are rows of their services, and replay from a recording") {
  ServiceCount c;
  c.key.netns = kNetns;
  c.key.egress_ifindex = 3;  // enslf1
  c.key.family = AF_INET;
  c.key.proto = IPPROTO_TCP;
  c.key.service_port = 443;
  c.key.backend_port = 6443;
  std::memcpy(c.key.service, ip("172.24.0.1").bytes.data(), 4);
  std::memcpy(c.key.backend, ip("10.0.0.8").bytes.data(), 4);
  c.answered = 5;
  c.connect_us_log2[3] = 4;  // 8 to 16 µs
  c.connect_us_log2[10] = 1;  // about a millisecond

  char path[] = "/tmp/svctrace-unit-counted.XXXXXX";
  close(mkstemp(path));
  const json header = {{"cidrs", {"172.24.0.0/13"}}, {"host_netns", false}, {"start_ns", 0},
                       {"max_flows", 64},            {"unanswered_after_ns", 1500 * kMs},
                       {"self_pid", 1},              {"drop_reasons", json::object()}};
  json live;
  {
    FakeNode node;
    Printed printed;
    NdjsonOutput out(printed.file);
    Recorder rec(path, header);
    RecordingNode asked(node, rec);
    Session session(lab_options(false), asked, {}, out);
    session.record_to(&rec);
    session.on_counted({c}, 500 * kMs);
    session.tick(600 * kMs, {});
    live = session.finish(1.0, {})["services"];
    CHECK(session.counted() == 5);
    rec.finish(1.0, json::object());
  }
  REQUIRE(live.size() == 1);
  CHECK(live[0]["service"] == "172.24.0.1:443");
  CHECK(live[0]["backend"] == "10.0.0.8:6443");
  CHECK(live[0]["egress_dev"] == "enslf1");
  CHECK(live[0]["flows"] == 5);
  CHECK(live[0]["answered"] == 5);
  CHECK(live[0]["connect_p50_ms"] == 0.016);
  CHECK(live[0]["connect_p99_ms"] == 2.048);

  Recording rec = read_recording(path);
  std::remove(path);
  ReplayNode replayed(rec.answers);
  Printed printed;
  NdjsonOutput out(printed.file);
  Session again(session_options(rec), replayed, {}, out);
  replay(rec, again);
  CHECK(again.finish(1.0, {})["services"] == live);
}
