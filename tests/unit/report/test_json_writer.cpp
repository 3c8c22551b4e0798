// The JSON text svctrace writes without nlohmann values must be what nlohmann would print for the same
// value: the lines are a contract. A text equal to its own parse-and-dump is exactly that.
#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "synthetic_events.h"
#include "fake_routing.h"
#include "report/json_writer.h"
#include "report/output.h"

using namespace svctrace;
using namespace test;
using nlohmann::json;

namespace {
std::string nlohmann_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
// The text is canonical: nlohmann prints it back byte for byte.
bool canonical(const std::string& text) { return nlohmann_text(json::parse(text)) == text; }
}  // namespace

TEST_CASE("strings are escaped as nlohmann escapes them, invalid UTF-8 replaced", "[json]") {
  for (std::string s : {std::string(""), std::string("enslf0"), std::string("say \"hi\""), std::string("a\\b"),
                        std::string("tab\there\nnl"), std::string("\x01\x1f\x7f"), std::string("caf\xc3\xa9 →"),
                        std::string("bad\xff\xfe"), std::string("nul\0in", 6)})
    CHECK(json_string(s) == nlohmann_text(json(s)));
}

TEST_CASE("numbers are printed as nlohmann prints them", "[json]") {
  for (double v : {0.0, -0.0, 1.0, 1.5, 0.058, 1e-7, 1e21, 123456.789, -2.25, 1500.0, 0.001})
    CHECK(json_number(v) == nlohmann_text(json(v)));
  CHECK(json_number(std::numeric_limits<double>::quiet_NaN()) == "null");
  CHECK(json_number(std::numeric_limits<double>::infinity()) == "null");
  CHECK(json_number(uint64_t{18446744073709551615ull}) == "18446744073709551615");
  CHECK(json_number(-42) == "-42");
  CHECK(json_number(uint16_t{443}) == "443");
}

TEST_CASE("an object's keys come out sorted, a key set twice keeps its last value", "[json]") {
  JsonObject o;
  o.add("zeta", 1).add("alpha", "x").add("mid", true).null("beta").add("alpha", "y");
  o.add("nested", JsonObject().add("b", 2.5).add("a", uint32_t{7}));
  JsonArray a;
  a.add(0.0).add("s");
  o.raw("list", a.text()).raw("empty", JsonArray().text());
  CHECK(o.text() == R"({"alpha":"y","beta":null,"empty":[],"list":[0.0,"s"],"mid":true,"nested":{"a":7,"b":2.5},"zeta":1})");
  CHECK(canonical(o.text()));
  CHECK(JsonObject().text() == "{}");
}

TEST_CASE("objects in key order, copied, moved, and made from the buffers of ended ones print alike", "[json]") {
  const std::string expected = R"({"a":1,"b":{"c":"d"},"e":[]})";
  auto make = [] { return JsonObject().add("a", 1).add("b", JsonObject().add("c", "d")).raw("e", "[]"); };
  for (int i = 0; i < 40; i++) {  // more than the pool keeps: every object's buffers were an earlier one's
    JsonObject o = make();
    JsonObject copy = o;
    JsonObject moved = std::move(o);
    CHECK(moved.text() == expected);
    CHECK(copy.text() == expected);
    copy = JsonObject().add("z", 0).add("y", 1);  // out of order after assignment: sorted
    CHECK(copy.text() == R"({"y":1,"z":0})");
  }
}

TEST_CASE("IPv4 addresses print as inet_ntop prints them", "[json]") {
  for (const char* s : {"0.0.0.0", "10.0.0.8", "172.24.0.1", "255.255.255.255", "1.20.100.199", "100.9.10.0"}) {
    CHECK(ip(s).str() == s);
    char buf[INET_ADDRSTRLEN];
    CHECK(ip(s).str() == inet_ntop(AF_INET, ip(s).bytes.data(), buf, sizeof buf));
  }
}

TEST_CASE("a flow line with every field set is what nlohmann prints", "[json]") {
  FakeRouting names;
  Flow f;
  f.key = FlowKey::from_tuple(kNetns, tuple("10.141.13.182", 52946, "172.24.0.1", 443));
  f.pid = 4242;
  f.comm = "cu\"rl\xff";
  f.container = {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0f0e-pod", "default/client"};
  f.service = "default/kubernetes:https";
  f.pod = "default/client";
  f.first_seen_ns = 1000 * kMs;
  f.decided_ns = 2500 * kMs + 1234;
  f.packets_unreplied = 2;
  f.retransmits = 1;
  f.packet_ns = {1000 * kMs, 2000 * kMs + 7};
  f.retransmit_ns = {2000 * kMs};
  f.dnat_ip = ip("10.0.0.8");
  f.dnat_port = 6443;
  f.snat_ip = ip("10.0.0.12");
  f.snat_port = 40000;
  f.route_ifindex = 3;
  f.egress_ifindex = 2;
  f.ingress_ifindex = 3;
  f.reply_ns = 1003 * kMs;
  f.reply_ifindex = 2;
  f.drops = 3;
  f.drop_reason = 77;
  f.drop_ifindex = 2;
  RouteDecision r;
  r.table = 254;
  r.oif = 3;
  r.gateway = ip("10.141.13.1");
  r.prefsrc = ip("10.141.13.182");
  r.nh_saddr = ip("10.141.13.182");
  f.route = r;
  f.state = FlowState::Unanswered;
  f.verdict = "asymmetric_source";
  f.sk_err = 110;
  for (uint64_t origin : {uint64_t{0}, uint64_t{10 * kMs}, uint64_t{5000 * kMs}}) {
    std::string text = flow_object(f, names, origin, "flow").text();
    CHECK(canonical(text));
    json j = json::parse(text);
    CHECK(j["type"] == "flow");
    CHECK(j["reply"]["dev"] == "enslf0");
    CHECK(j["drops"]["count"] == 3);
    CHECK(j.contains("first_seen_s") == (origin != 0));
    CHECK(j["service"] == "default/kubernetes:https");
    CHECK(j["pod"] == "default/client");
    CHECK(j["container"]["pod"] == "default/client");
  }
  Flow bare;  // nothing but its key: the nulls and empty arrays, and no names
  bare.key = f.key;
  CHECK(canonical(flow_object(bare, names).text()));
  json j = json::parse(flow_object(bare, names).text());
  CHECK_FALSE(j.contains("service"));
  CHECK_FALSE(j.contains("pod"));
}

TEST_CASE("a diagnosis line with every field set is what nlohmann prints", "[json]") {
  Diagnosis d;
  d.verdict = Verdict::AsymmetricSource;
  d.flow = FlowKey::from_tuple(kNetns, tuple("10.141.13.182", 52946, "172.24.0.1", 443));
  d.dnat_ip = ip("10.0.0.8");
  d.dnat_port = 6443;
  d.egress_dev = "enslf0";
  d.route_dev = "enslf1";
  Route def;
  def.gateway = ip("10.141.13.1");
  def.oif = 3;
  def.dev = "enslf1";
  d.source_route = def;
  d.source_rule = vrf_rules()[1];
  d.vrf = Vrf{7, "vrf-blue", 10, {2}};
  d.vrf_table_missed = true;
  d.expected_source = ip("10.0.0.12");
  d.egress_addresses = {ip("10.0.0.12"), ip("10.0.0.13")};
  d.fix = "ip route add 172.24.0.1/32 dev enslf0 src 10.0.0.12";
  d.fix_would_break = {"172.24.0.5:80", "172.24.0.6:53"};
  d.persistent_tool = "systemd-networkd";
  d.persistent_fix = "[Route]\nDestination=172.24.0.1/32\n";
  d.reason = "source \"10.141.13.182\" was chosen\tby the route";
  d.syns = 2;
  d.retransmits = 1;
  d.waited_ns = 1000 * kMs + 999;
  RouteDecision r;
  r.table = 254;
  r.oif = 3;
  r.gateway = ip("10.141.13.1");
  d.route_seen = r;
  d.route_seen_dev = "enslf1";
  d.pid = 4242;
  d.comm = "nc";
  d.container = {"", "0f0e-pod", "default/client"};
  d.service = "default/kubernetes:https";
  d.pod = "default/client";
  d.forwarded = true;
  d.ingress_dev = "cni0";
  d.reply_dev = "enslf1";
  d.drop_reason = "IP_RPFILTER";
  d.drop_dev = "enslf1";
  d.drops = 1;
  d.answered_by = "rst";
  RoutingChange c;
  c.kind = RoutingChangeKind::Route;
  c.what = "172.24.0.0/13 dev enslf0";
  c.deleted = true;
  d.preceding_change = c;
  d.preceding_change_s = 2.5;
  std::string text = diagnosis_object(d).add("confidence", "high").add("group", 3).add("count", 12).text();
  CHECK(canonical(text));
  CHECK(json::parse(text)["evidence"]["after_change"]["seconds_before"] == 2.5);
  CHECK(json::parse(text)["service"] == "default/kubernetes:https");
  CHECK(json::parse(text)["pod"] == "default/client");
  CHECK(canonical(diagnosis_object(Diagnosis{}).text()));
}
