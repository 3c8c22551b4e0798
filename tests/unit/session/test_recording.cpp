#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <linux/rtnetlink.h>

#include "fake_node.h"
#include "session/recording.h"

using namespace svctrace;
using test::FakeNode;
using test::ip;

namespace {

std::string temp_path() {
  char tmpl[] = "/tmp/svctrace-unit-record.XXXXXX";
  int fd = mkstemp(tmpl);
  close(fd);
  return tmpl;
}

const nlohmann::json kHeader = {{"cidrs", {"172.24.0.0/13"}}, {"host_netns", false}, {"start_ns", 1000},
                                {"max_flows", 64},             {"unanswered_after_ns", 1500000000},
                                {"self_pid", 1},               {"drop_reasons", {{"16", "IP_RPFILTER"}}}};

std::string header_line() {
  nlohmann::json h = kHeader;
  h["type"] = "header";
  h["version"] = kRecordVersion;
  return h.dump() + "\n";
}

}  // namespace

TEST_CASE("a recording answers the replay exactly as the node answered the live run") {
  FakeNode node;
  Route multipath;
  multipath.dst = ip("172.24.0.0");
  multipath.dst_len = 13;
  multipath.table = 200;
  multipath.metric = 100;
  multipath.nexthops = {{ip("10.0.0.1"), 2, "enslf0", 2, RTNH_F_ONLINK}, {ip("10.141.13.1"), 3, "enslf1", 1, 0}};
  node.routing.service_route = multipath;
  Rule rule;
  rule.priority = 1000;
  rule.to = Cidr::parse("172.24.0.0/13");
  rule.fwmark = 0x4000;
  rule.table = 200;
  node.routing.rule_list = {rule, test::vrf_rules()[1]};  // and the l3mdev rule
  node.routing.backend_route.reset();  // "no route" must replay as no route
  // In VRF vrf-blue (ifindex 7, table 10) the backend has a route.
  node.routing.vrf_list = {{7, "vrf-blue", 10, {2}}};
  node.routing.vrf_route_get[7]["10.0.0.8"] = test::host_route("10.0.0.8", 2, "enslf0", "10.0.0.12", 10);

  std::string path = temp_path();
  {
    Recorder rec(path, kHeader);
    RecordingNode asked(node, rec);
    asked.fib_match(ip("172.24.0.1"), 0);
    asked.route_get(ip("10.0.0.8"), 0);
    asked.route_get(ip("10.0.0.8"), 7);
    asked.rules(AF_INET);
    asked.vrfs();
    asked.addresses(2);
    asked.interface_name(3);
    asked.service_pairs({Cidr::parse("172.24.0.0/13")});
    asked.network_management(2, "enslf0");
    rec.finish(1.5, {{"routes", {"default via 10.141.13.1 dev enslf1"}}});
  }
  Recording rec = read_recording(path);
  std::remove(path.c_str());
  CHECK(rec.end.at("elapsed_s") == 1.5);
  ReplayNode replayed(rec.answers);

  auto got = replayed.fib_match(ip("172.24.0.1"), 0);
  REQUIRE(got);
  CHECK(format_route(*got) == format_route(multipath));
  CHECK(got->metric == multipath.metric);
  REQUIRE(got->nexthops.size() == 2);
  CHECK(got->nexthops[0].flags == RTNH_F_ONLINK);
  CHECK(got->nexthops[0].weight == 2);
  CHECK_FALSE(replayed.route_get(ip("10.0.0.8"), 0));
  // The same destination in the VRF is another question, with its own answer.
  auto vrf_got = replayed.route_get(ip("10.0.0.8"), 7);
  REQUIRE(vrf_got);
  CHECK(format_route(*vrf_got) == "10.0.0.8 dev enslf0 table 10 src 10.0.0.12");
  auto rules = replayed.rules(AF_INET);
  REQUIRE(rules.size() == 2);
  CHECK(format_rule(rules[0]) == format_rule(rule));
  CHECK(format_rule(rules[1]) == "1000:\tfrom all lookup [l3mdev-table]");
  auto vrfs = replayed.vrfs();
  REQUIRE(vrfs.size() == 1);
  CHECK(vrfs[0].name == "vrf-blue");
  CHECK(vrfs[0].table == 10);
  CHECK(vrfs[0].members == std::vector<int>{2});
  auto addrs = replayed.addresses(2);
  REQUIRE(addrs.size() == 1);
  CHECK(addrs[0].addr == ip("10.0.0.12"));
  CHECK(addrs[0].prefix_len == 24);
  CHECK(replayed.interface_name(3) == "enslf1");
  auto pairs = replayed.service_pairs({Cidr::parse("172.24.0.0/13")});
  REQUIRE(pairs.size() == 1);
  CHECK(pair_key(pairs[0]) == pair_key(node.service_pairs({})[0]));
  CHECK(pairs[0].found_in == node.service_pairs({})[0].found_in);
  CHECK(replayed.network_management(2, "enslf0").network_file == "/run/systemd/network/10-enslf0.network");
  CHECK(replayed.unanswered() == 0);
  // Asked again: the same answer. Asked something never recorded: counted, and a neutral answer.
  CHECK(replayed.interface_name(3) == "enslf1");
  CHECK_FALSE(replayed.fib_match(ip("172.24.0.9"), 0));
  CHECK(replayed.unanswered() == 1);
}

TEST_CASE("the header states the session's options") {
  Recording rec = parse_recording(header_line(), "r");
  SessionOptions o = session_options(rec);
  CHECK(o.cidrs == std::vector<Cidr>{Cidr::parse("172.24.0.0/13")});
  CHECK(o.correlator.max_flows == 64);
  CHECK(o.correlator.unanswered_after_ns == 1500000000);
  CHECK(drop_reason_names(rec).at(16) == "IP_RPFILTER");
  CHECK(rec.end.is_null());  // cut short: no end line
}

TEST_CASE("a bad recording is refused with the line that is wrong") {
  std::string event(2 * sizeof(svc_event), '0');
  auto error_of = [](const std::string& text) {
    try {
      parse_recording(text, "cap");
    } catch (const RecordingError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(error_of(""), Catch::Contains("empty"));
  CHECK_THAT(error_of("{\"type\":\"event\"}\n"), Catch::Contains("line 1: not an svctrace recording"));
  CHECK(error_of("not json\n") == "cap: line 1: not an svctrace recording (line 1 is not JSON)");
  CHECK(error_of(header_line() + "{\"type\":\"tick\"\n{}\n") == "cap: line 2: not JSON");
  CHECK_THAT(error_of(R"({"type":"header","version":99})" "\n"), Catch::Contains("recording format 99"));
  CHECK_THAT(error_of(header_line() + R"({"type":"event","hex":"00"})" "\n"), Catch::Contains("line 2: an event has 2 hex digits"));
  // A kind the kernel never sends; then a known kind with an address family that is neither v4 nor v6.
  CHECK_THAT(error_of(header_line() + R"({"type":"event","hex":")" + event + "\"}\n"),
             Catch::Contains("unknown event kind 0"));
  svc_event ev{};
  ev.kind = SVC_EV_TCP_STATE;
  ev.tuple.family = 99;
  std::string hex;
  for (size_t i = 0; i < sizeof ev; i++) hex += fmt::format("{:02x}", reinterpret_cast<uint8_t*>(&ev)[i]);
  CHECK_THAT(error_of(header_line() + R"({"type":"event","hex":")" + hex + "\"}\n"), Catch::Contains("unknown family"));
  // A packet record (--pcap) of another kind, or too short.
  svc_packet packet{};
  packet.kind = SVC_EV_NAT;
  packet.flow.family = AF_INET;
  hex.clear();
  for (size_t i = 0; i < sizeof packet; i++) hex += fmt::format("{:02x}", reinterpret_cast<uint8_t*>(&packet)[i]);
  CHECK_THAT(error_of(header_line() + R"({"type":"packet","hex":")" + hex + "\"}\n"),
             Catch::Contains("line 2: a packet record is not one svctrace writes"));
  CHECK_THAT(error_of(header_line() + R"({"type":"packet","hex":"00"})" "\n"), Catch::Contains("a packet's bytes"));
  CHECK_THAT(error_of(header_line() + R"({"type":"gossip"})" "\n"), Catch::Contains("unknown record type \"gossip\""));
  CHECK_THAT(error_of(header_line() + R"({"type":"end","elapsed_s":1})" "\n" R"({"type":"tick"})" "\n"),
             Catch::Contains("line 3: a line after the end record"));
  CHECK_THAT(error_of(header_line() + R"({"type":"tick","now_ns":"soon"})" "\n"), Catch::Contains("line 2"));
}

TEST_CASE("a recording made before VRFs were followed still answers its lookups and rules") {
  std::string text = header_line() +
                     R"({"type":"answer","q":"route_get","arg":"10.0.0.8","a":null})" "\n"
                     R"({"type":"answer","q":"rules","arg":2,"a":[{"priority":1000,"from":null,"to":"172.24.0.0/13",)"
                     R"("iif":"","fwmark":null,"table":200,"action":1}]})" "\n";
  Recording rec = parse_recording(text, "old");
  ReplayNode replayed(rec.answers);
  CHECK_FALSE(replayed.route_get(ip("10.0.0.8"), 0));
  auto rules = replayed.rules(AF_INET);
  REQUIRE(rules.size() == 1);
  CHECK_FALSE(rules[0].l3mdev);
  CHECK(format_rule(rules[0]) == "1000:\tfrom all to 172.24.0.0/13 lookup 200");
  CHECK(replayed.unanswered() == 0);
}

TEST_CASE("a capture cut mid-line by SIGKILL replays without its torn last line") {
  const std::string tick = R"({"changes":[],"type":"changes"})";
  Recording rec = parse_recording(header_line() + tick + "\n" + tick.substr(0, 17), "cut");
  CHECK(rec.torn_last_line);
  CHECK(rec.records.size() == 1);
  CHECK(rec.end.is_null());
  // The same bytes with a newline after them were written whole: not JSON there is an error.
  CHECK_THROWS_AS(parse_recording(header_line() + tick + "\n" + tick.substr(0, 17) + "\n", "cut"), RecordingError);
  CHECK_FALSE(parse_recording(header_line() + tick + "\n", "whole").torn_last_line);
}
