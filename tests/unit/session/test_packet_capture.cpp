// --pcap's choice of packets (session/packet_capture.h): a flow's captured packets wait for its
// verdict; a diagnosed flow's go into the file, in the order they were captured, with comments that
// say where each was seen and what was decided; an answered flow's are forgotten; the bounds count
// what they leave out.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <string>

#include "session/packet_capture.h"
#include "synthetic_events.h"

using namespace svctrace;
using namespace test;

namespace {

constexpr uint64_t kUnixAtZero = 1'800'000'000ull * 1'000'000'000ull;

// A TCP SYN of flow t, as the kernel captures it: its IPv4 and TCP headers (no checksums).
svc_packet syn(const svc_tuple& t, uint64_t ts, uint32_t seen = SVC_PKT_LEFT, int ifindex = 3,
               uint32_t drop_reason = 0) {
  svc_packet p{};
  p.ts_ns = ts;
  p.kind = SVC_EV_PACKET;
  p.netns = kNetns;
  p.flow = t;
  p.seen = seen;
  p.ifindex = ifindex;
  p.drop_reason = drop_reason;
  p.wire_len = p.caplen = 40;
  uint8_t* ip = p.data;
  ip[0] = 0x45;
  ip[3] = 40;
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  std::memcpy(ip + 12, t.src, 4);
  std::memcpy(ip + 16, t.dst, 4);
  ip[20] = static_cast<uint8_t>(t.sport >> 8), ip[21] = static_cast<uint8_t>(t.sport);
  ip[22] = static_cast<uint8_t>(t.dport >> 8), ip[23] = static_cast<uint8_t>(t.dport);
  ip[32] = 0x50;
  ip[33] = 0x02;  // SYN
  return p;
}

Flow flow_of(const svc_tuple& t) {
  Flow f;
  f.key = FlowKey::from_tuple(kNetns, t);
  return f;
}

const PacketCapture::Names kNames{
    [](int ifindex) { return ifindex == 3 ? std::string("enslf0") : "if" + std::to_string(ifindex); },
    [](uint32_t reason) { return reason == 77 ? std::string("IP_RPFILTER") : std::to_string(reason); }};

bool contains(const std::string& bytes, const std::string& text) { return bytes.find(text) != std::string::npos; }

}  // namespace

TEST_CASE("a diagnosed flow's packets are written with where they were seen and its verdict") {
  PacketCapture capture(100, kUnixAtZero);
  const svc_tuple failing = tuple("10.141.13.182", 40000, "172.24.0.1", 443);
  const svc_tuple healthy = tuple("10.141.13.182", 40001, "172.24.0.2", 80);
  capture.on_packet(syn(failing, 1 * kMs));
  capture.on_packet(syn(healthy, 2 * kMs));
  capture.on_packet(syn(failing, 1001 * kMs));  // the retransmit
  capture.flow_answered(flow_of(healthy));
  capture.flow_failed(flow_of(failing), "asymmetric_source", 1, 0);
  // A reply dropped after the verdict still belongs to it.
  capture.on_packet(syn(failing, 1002 * kMs, SVC_PKT_DROPPED, 4, 77));

  REQUIRE(capture.kept() == 3);
  REQUIRE(capture.not_kept() == 0);
  PacketCapture::File file = capture.file(kNames);
  REQUIRE(file.frames_by_diagnosis.at(0) == std::vector<uint32_t>{1, 2, 3});
  CHECK(contains(file.bytes, "svctrace: left by enslf0, after NAT\nflow tcp 10.141.13.182:40000 -> 172.24.0.1:443\n"
                             "verdict: asymmetric_source (group 1)"));
  CHECK(contains(file.bytes, "svctrace: dropped by the kernel on if4: IP_RPFILTER"));
  CHECK_FALSE(contains(file.bytes, ":40001"));
  CHECK(contains(file.bytes, "enslf0"));
}

TEST_CASE("an answered flow's packets are not written, and a diagnosis not kept in the report has no frames") {
  PacketCapture capture(100, kUnixAtZero);
  const svc_tuple healthy = tuple("10.141.13.182", 40001, "172.24.0.2", 80);
  const svc_tuple failing = tuple("10.141.13.182", 40002, "172.24.0.1", 443);
  capture.on_packet(syn(healthy, 1 * kMs));
  capture.flow_answered(flow_of(healthy));
  capture.on_packet(syn(failing, 2 * kMs));
  capture.flow_failed(flow_of(failing), "asymmetric_source", 1, -1);
  REQUIRE(capture.kept() == 1);
  PacketCapture::File file = capture.file(kNames);
  CHECK(file.frames_by_diagnosis.empty());
  CHECK_FALSE(contains(file.bytes, ":40001"));
}

TEST_CASE("past --pcap-max-packets packets are counted, not kept, and waiting is bounded too") {
  PacketCapture capture(2, kUnixAtZero);
  const svc_tuple a = tuple("10.141.13.182", 40000, "172.24.0.1", 443);
  const svc_tuple b = tuple("10.141.13.182", 40003, "172.24.0.1", 443);
  capture.on_packet(syn(a, 1 * kMs));
  capture.on_packet(syn(a, 2 * kMs));
  capture.on_packet(syn(b, 3 * kMs));  // two wait already
  CHECK(capture.not_kept() == 1);
  capture.flow_failed(flow_of(a), "asymmetric_source", 1, 0);
  capture.on_packet(syn(a, 4 * kMs));  // the file is full
  CHECK(capture.kept() == 2);
  CHECK(capture.not_kept() == 2);
  capture.on_packet(syn(b, 5 * kMs));
  capture.flow_failed(flow_of(b), "asymmetric_source", 1, 1);  // its waiting packet is counted
  CHECK(capture.kept() == 2);
  CHECK(capture.not_kept() == 3);
  CHECK(capture.file(kNames).frames_by_diagnosis.count(1) == 0);
}

TEST_CASE("a flow evicted under a flood takes its packets to the flow of its cause it joined") {
  PacketCapture capture(100, kUnixAtZero);
  const svc_tuple first = tuple("10.141.13.182", 40000, "172.24.0.1", 443);
  const svc_tuple joined = tuple("10.141.13.182", 40001, "172.24.0.1", 443);
  const svc_tuple lost = tuple("10.141.13.182", 40002, "172.24.0.1", 443);
  capture.on_packet(syn(first, 1 * kMs));
  capture.on_packet(syn(joined, 2 * kMs));
  capture.on_packet(syn(lost, 3 * kMs));
  const FlowKey into = flow_of(first).key;
  capture.flow_evicted(flow_of(joined).key, &into);
  capture.flow_evicted(flow_of(lost).key, nullptr);
  CHECK(capture.not_kept() == 1);  // the lost one's
  capture.flow_failed(flow_of(first), "asymmetric_source", 1, 0);
  REQUIRE(capture.kept() == 2);
  PacketCapture::File file = capture.file(kNames);
  CHECK(file.frames_by_diagnosis.at(0) == std::vector<uint32_t>{1, 2});
  CHECK(contains(file.bytes, "10.141.13.182:40001 -> 172.24.0.1:443\nverdict: asymmetric_source (group 1)"));
  CHECK_FALSE(contains(file.bytes, ":40002"));
}
