#include <catch2/catch.hpp>

#include "synthetic_events.h"
#include "fake_routing.h"
#include "node/node_cache.h"
#include "report/ndjson_output.h"
#include "session/session.h"

using namespace svctrace;
using namespace test;

namespace {

// The incident's node, counting the questions that reach it.
struct CountingNode : Node {
  FakeRouting routing;
  int asked = 0;
  std::optional<Route> fib_match(const IpAddr& d, int v) override { return asked++, routing.fib_match(d, v); }
  std::optional<Route> route_get(const IpAddr& d, int v) override { return asked++, routing.route_get(d, v); }
  std::vector<InterfaceAddress> addresses(int i) override { return asked++, routing.addresses(i); }
  std::string interface_name(int i) override { return asked++, routing.interface_name(i); }
  std::vector<Route> routes(uint32_t t) override { return asked++, routing.routes(t); }
  std::vector<Rule> rules(uint8_t f) override { return asked++, routing.rules(f); }
  std::vector<Vrf> vrfs() override { return asked++, routing.vrfs(); }
  std::vector<ServicePair> service_pairs(const std::vector<Cidr>&) override { return asked++, std::vector<ServicePair>{}; }
  NetworkManagement network_management(int, const std::string&) override { return asked++, NetworkManagement{}; }
  Container container_of(uint32_t, const std::string&) override { return asked++, Container{}; }
};

// A session on the incident's CIDR, with a flow table of max_flows (its lines: NdjsonOutput).
SessionOptions incident_options(size_t max_flows = 65536) {
  SessionOptions opts;
  opts.cidrs = {Cidr::parse("172.24.0.0/13")};
  opts.correlator.max_flows = max_flows;
  return opts;
}

}  // namespace

TEST_CASE("the node cache asks each question once until cleared") {
  CountingNode node;
  NodeCache cache(node);
  CHECK(cache.interface_name(3) == "enslf1");
  CHECK(cache.interface_name(3) == "enslf1");
  CHECK(cache.interface_name(2) == "enslf0");  // another question
  const std::vector<Cidr> cidrs = {Cidr::parse("172.24.0.0/13")};
  cache.service_pairs(cidrs);
  cache.service_pairs(cidrs);
  CHECK(cache.addresses(2).size() == 1);
  cache.addresses(2);
  CHECK(node.asked == 4);
  cache.clear();
  CHECK(cache.interface_name(3) == "enslf1");
  cache.service_pairs(cidrs);
  CHECK(node.asked == 6);
}

TEST_CASE("a flood of one failure keeps the report bounded and every diagnosis counted") {
  CountingNode node;
  NdjsonOutput out;
  Session session(incident_options(), node, {}, out);
  // 100 unanswered flows of one cause: same service, same backend, from 100 source ports.
  constexpr int kFlows = 100;
  for (uint16_t i = 0; i < kFlows; i++) {
    const svc_tuple orig = tuple("10.141.13.182", static_cast<uint16_t>(40000 + i), "172.24.0.1", 443);
    const svc_tuple rep = tuple("10.0.0.8", 6443, "10.141.13.182", static_cast<uint16_t>(40000 + i));
    session.on_event(route(i, orig, 254, 3, "10.141.13.1"));
    session.on_event(nat(i + 10, orig, rep, SVC_NAT_POST_ROUTING, 2, 3));
  }
  session.tick(1 * kMs, {});
  const int before = node.asked;
  session.tick(2000 * kMs, {});  // all decided in this one tick
  CHECK(session.diagnosed());
  // The node was asked as for one flow, not for each of them.
  CHECK(node.asked - before < 20);
  nlohmann::json report = session.finish(2.0, {});
  const auto& kept = report["diagnoses"];
  REQUIRE(kept.size() == 64);
  CHECK(kept.back()["count"] == kFlows);  // the last kept one carries the group's count
  CHECK(kept.front()["group"] == kept.back()["group"]);
  CHECK(report["stats"]["diagnoses"] == kFlows);
  CHECK(report["stats"]["diagnoses_not_in_report"] == kFlows - 64);
}

TEST_CASE("the report keeps the flows seen last of a full table, and counts the others") {
  CountingNode node;
  NdjsonOutput out;
  Session session(incident_options(8192), node, {}, out);
  constexpr uint16_t kFlows = 5000;
  for (uint16_t i = 0; i < kFlows; i++) {
    const svc_tuple orig = tuple("10.0.0.12", static_cast<uint16_t>(20000 + i), "172.24.0.1", 443);
    const svc_tuple rep = tuple("10.0.0.8", 6443, "10.0.0.12", static_cast<uint16_t>(20000 + i));
    session.on_event(nat(i + 1, orig, rep, SVC_NAT_POST_ROUTING, 2, 2));
  }
  nlohmann::json report = session.finish(1.0, {});
  const auto& flows = report["flows"];
  REQUIRE(flows.size() == Session::kKeptFlows);
  CHECK(flows.back()["flow"]["sport"] == 20000 + kFlows - 1);
  CHECK(flows.front()["flow"]["sport"] == 20000 + kFlows - Session::kKeptFlows);
  CHECK(report["stats"]["flows"] == kFlows);
  CHECK(report["stats"]["flows_not_in_report"] == kFlows - Session::kKeptFlows);
}

TEST_CASE("the report keeps the diagnosed flows before the latest answered ones") {
  CountingNode node;
  NdjsonOutput out;
  Session session(incident_options(8192), node, {}, out);
  // First 3 flows of the incident (unanswered, diagnosed), then 5000 that are not.
  for (uint16_t i = 0; i < 3; i++) {
    const svc_tuple orig = tuple("10.141.13.182", static_cast<uint16_t>(40000 + i), "172.24.0.1", 443);
    const svc_tuple rep = tuple("10.0.0.8", 6443, "10.141.13.182", static_cast<uint16_t>(40000 + i));
    session.on_event(route(i, orig, 254, 3, "10.141.13.1"));
    session.on_event(nat(i + 10, orig, rep, SVC_NAT_POST_ROUTING, 2, 3));
  }
  session.tick(2000 * kMs, {});
  REQUIRE(session.diagnosed());
  constexpr uint16_t kOthers = 5000;
  for (uint16_t i = 0; i < kOthers; i++) {
    const svc_tuple orig = tuple("10.0.0.12", static_cast<uint16_t>(20000 + i), "172.24.0.1", 443);
    const svc_tuple rep = tuple("10.0.0.8", 6443, "10.0.0.12", static_cast<uint16_t>(20000 + i));
    session.on_event(nat(2001 * kMs + i, orig, rep, SVC_NAT_POST_ROUTING, 2, 2));
  }
  nlohmann::json report = session.finish(3.0, {});
  const auto& flows = report["flows"];
  REQUIRE(flows.size() == Session::kKeptFlows);
  int diagnosed = 0;
  for (const auto& f : flows) diagnosed += f.value("verdict", "") == "asymmetric_source";
  CHECK(diagnosed == 3);
  CHECK(flows.back()["flow"]["sport"] == 20000 + kOthers - 1);
  CHECK(report["stats"]["flows_not_in_report"] == 3 + kOthers - Session::kKeptFlows);
}
