// Userspace throughput: svctrace::Correlator fed synthetic kernel events (the unit tests' builders),
// as the event loop feeds it: every event through on_event(), tick() after each batch of 64 (a ring
// buffer poll), on one thread. Items are events. Not included: reading the ring buffer, and printing
// each flow (JSON, and the netlink lookups of a diagnosis).
// session_flood adds what the correlator benchmarks leave out: a whole Session (--json, stdout to
// /dev/null, a fake node instead of netlink) under bench.sh's flood of unanswered SYNs, where every
// flow is one event, a "flow" line and a diagnosis. Items are flows.
#include <benchmark/benchmark.h>
#include <cstdio>
#include <cstring>
#include <vector>

#include "synthetic_events.h"
#include "fake_node.h"
#include "correlate/correlator.h"
#include "report/ndjson_output.h"
#include "session/session.h"

using namespace svctrace;
using namespace test;

namespace {

constexpr int kEnslf0 = 2, kEnslf1 = 3;
constexpr uint64_t kUs = 1000;

svc_tuple client(uint32_t i) {
  svc_tuple t = tuple("10.0.0.12", 0, "172.24.0.1", 443);
  t.sport = static_cast<uint16_t>(1024 + i % 60000);
  t.src[2] = static_cast<uint8_t>(i / 60000);  // a new source address every 60000 ports: keys stay unique
  return t;
}

svc_tuple backend_reply(const svc_tuple& orig) {
  svc_tuple r = tuple("10.0.0.8", 6443, "0.0.0.0", orig.sport);
  std::memcpy(r.dst, orig.src, 4);
  return r;
}

// What the kernel sends for one connect() to the Service IP: the two route lookups of connect(), the
// SYN at LOCAL_OUT and POST_ROUTING, then the SYN-ACK and the state change (answered: 6 events), or
// a retransmitted SYN through both hooks again and the socket giving up (unanswered: 8 events).
void one_flow(std::vector<svc_event>& out, uint32_t i, bool answered) {
  uint64_t t = i * 10 * kUs;
  svc_tuple orig = client(i), unbound = tuple("0.0.0.0", 0, "172.24.0.1", 443);
  svc_tuple rep = backend_reply(orig);
  out.push_back(route(t, unbound, 254, kEnslf0, nullptr));
  out.push_back(route(t + 1 * kUs, orig, 254, kEnslf0, nullptr));
  out.push_back(nat(t + 2 * kUs, orig, rep, SVC_NAT_LOCAL_OUT, kEnslf0));
  out.push_back(nat(t + 3 * kUs, orig, rep, SVC_NAT_POST_ROUTING, kEnslf0));
  if (answered) {
    out.push_back(reply(t + 50 * kUs, orig, kEnslf0));
    out.push_back(tcp_state(t + 51 * kUs, orig, 1 /* ESTABLISHED */));
  } else {
    out.push_back(retransmit(t + 1000 * kMs, orig));
    out.push_back(nat(t + 1000 * kMs + 1, orig, rep, SVC_NAT_LOCAL_OUT, kEnslf1));
    out.push_back(nat(t + 1000 * kMs + 2, orig, rep, SVC_NAT_POST_ROUTING, kEnslf0));
    out.push_back(tcp_state(t + 3000 * kMs, orig, 7 /* CLOSE */, 110 /* ETIMEDOUT */));
  }
}

std::vector<svc_event> flows(uint32_t n, int unanswered_every) {
  std::vector<svc_event> out;
  for (uint32_t i = 0; i < n; i++) one_flow(out, i, unanswered_every == 0 || i % unanswered_every != 0);
  return out;
}

// `changes` per iteration, shown as a counter: 2 per flow (announced, decided) when every flow was
// decided, as it must be.
void feed(benchmark::State& state, const std::vector<svc_event>& events, size_t max_flows) {
  size_t changes = 0;
  for (auto _ : state) {
    Correlator c({max_flows, 1500 * kMs, 1});
    changes = 0;
    for (size_t i = 0; i < events.size(); i++) {
      c.on_event(events[i]);
      if (i % 64 == 63) changes += c.tick(events[i].ts_ns).size();
    }
    changes += c.tick(events.back().ts_ns + 10'000 * kMs).size();
    benchmark::DoNotOptimize(changes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * events.size()));
  state.counters["changes"] = static_cast<double>(changes);
}

// 50000 answered flows: the table grows to 50000 flows (under the default --max-flows 65536).
void answered(benchmark::State& state) { feed(state, flows(50'000, 0), 65536); }
// One flow in ten unanswered.
void mixed(benchmark::State& state) { feed(state, flows(50'000, 10), 65536); }
// 200000 answered flows through a table of 65536: the oldest evicted from then on.
void answered_evicting(benchmark::State& state) { feed(state, flows(200'000, 0), 65536); }

// Runs `events` through a whole Session (--json to /dev/null, the fake node), a tick after every
// `batch` events (a ring-buffer poll) and a last one 10 s later; returns the session's stats.
nlohmann::json run_session(const std::vector<svc_event>& events, size_t max_flows, size_t batch,
                           bool all_flows = false) {
  test::FakeNode node;
  SessionOptions opts;
  opts.cidrs = {Cidr::parse("172.24.0.0/13")};
  opts.all_flows = all_flows;
  opts.correlator = {max_flows, 1500 * kMs, 1};
  std::FILE* null = std::fopen("/dev/null", "w");  // the lines, not the benchmark's own report
  nlohmann::json stats;
  {
    NdjsonOutput out(null);
    Session session(opts, node, {}, out);
    for (size_t i = 0; i < events.size(); i++) {
      session.on_event(events[i]);
      if (i % batch == batch - 1) session.tick(events[i].ts_ns, {});
    }
    session.tick(events.back().ts_ns + 10'000 * kMs, {});
    stats = session.stats({});
  }
  std::fclose(null);
  return stats;
}

// 50000 SYNs at 50 k/s, each from a port of its own, DNAT'd and never answered: one POST_ROUTING event
// per flow, as synflood's raw socket makes them.
void session_flood(benchmark::State& state) {
  constexpr uint32_t kFlows = 50'000;
  std::vector<svc_event> events;
  for (uint32_t i = 0; i < kFlows; i++) {
    svc_tuple orig = client(i);
    std::memcpy(orig.dst, tuple("0.0.0.0", 0, "172.24.0.3", 0).dst, 4);
    events.push_back(nat(i * 20 * kUs, orig, backend_reply(orig), SVC_NAT_POST_ROUTING, kEnslf0));
  }
  uint64_t diagnosed = 0;
  for (auto _ : state) diagnosed = run_session(events, 262144, 64)["diagnoses"].get<uint64_t>();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kFlows));
  state.counters["diagnosed"] = static_cast<double>(diagnosed);
}

// bench.sh's connection-rate load as svctrace sees it when its CIDR matches: 60000 answered connects
// at ~16 k/s from one client whose source ports wrap every 28000 connections (so each later flow
// replaces an earlier one on its tuple), each the kernel's route lookup, SYN, SYN-ACK and state change,
// counted per service (by default), or with --all-flows (range 1) printed as a "flow" and an "outcome"
// line. A tick every 640 events, as svctrace reads the ring every 10 ms at that rate (Tracer::poll).
// Items are connections.
void session_answered(benchmark::State& state) {
  constexpr uint32_t kConnections = 60'000, kPorts = 28'000;
  std::vector<svc_event> events;
  for (uint32_t i = 0; i < kConnections; i++) {
    uint64_t t = i * 60 * kUs;
    svc_tuple orig = tuple("10.0.0.12", static_cast<uint16_t>(32768 + i % kPorts), "172.24.0.2", 80);
    svc_tuple rep = tuple("10.0.0.8", 7443, "10.0.0.12", orig.sport);
    events.push_back(route(t, orig, 254, kEnslf0, nullptr, 4242, "connload"));
    events.push_back(nat(t + 2 * kUs, orig, rep, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
    events.push_back(reply(t + 30 * kUs, orig, kEnslf0));
    events.push_back(tcp_state(t + 31 * kUs, orig, 1 /* ESTABLISHED */));
  }
  uint64_t flows = 0;
  for (auto _ : state) {
    nlohmann::json stats = run_session(events, 65536, 640, state.range(0) != 0);
    flows = stats["flows"].get<uint64_t>() + stats["flows_replaced"].get<uint64_t>();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kConnections));
  state.counters["flows"] = static_cast<double>(flows);  // one a connection, as it must be
}

}  // namespace

BENCHMARK(answered)->Unit(benchmark::kMillisecond);
BENCHMARK(mixed)->Unit(benchmark::kMillisecond);
BENCHMARK(answered_evicting)->Unit(benchmark::kMillisecond);
BENCHMARK(session_flood)->Unit(benchmark::kMillisecond);
BENCHMARK(session_answered)->ArgName("all_flows")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
