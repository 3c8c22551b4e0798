// bpf/lib/ run in the kernel with BPF_PROG_TEST_RUN: the CIDR match, the awaiting-reply table and the
// reading of a reply's headers, each through a program of tests/bpf/lib_test.bpf.c. Loading BPF needs
// root: without it the test exits with kSkipped, which ctest shows as skipped (SKIP_RETURN_CODE), never as passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

#include "lib_test_bpf.skel.h"
#include "svctrace/events.h"

namespace {

constexpr int kSkipped = 77;

// As in lib_test.bpf.c.
enum FlowState : uint32_t { kAbsent = 0, kAwaiting = 1, kAnswered = 2 };
// As awaiting.bpf.h's enum remembered.
enum Remembered : uint32_t { kRememberedNew = 1, kRememberedAgain = 2 };

struct SkelDeleter {
  void operator()(lib_test_bpf* s) const { lib_test_bpf__destroy(s); }
};
using Skel = std::unique_ptr<lib_test_bpf, SkelDeleter>;

std::array<uint8_t, 16> v6(const char* text) {
  std::array<uint8_t, 16> a{};
  REQUIRE(inet_pton(AF_INET6, text, a.data()) == 1);
  return a;
}

uint32_t v4(const char* text) {
  uint32_t a = 0;
  REQUIRE(inet_pton(AF_INET, text, &a) == 1);
  return a;
}

// The test CIDRs, set either as the constants tested inline or in the trie (as the loader does for
// more than SVC_INLINE_V4 / SVC_INLINE_V6 of them): the same answers are expected both ways.
enum class CidrsIn { kConstants, kTrie };

// The awaiting-reply table's size here, set as the loader sets it (max_entries and bucket_mask), and
// the held slots of each CPU.
constexpr uint32_t kBuckets = 64;
constexpr uint32_t kHeldPerCpu = 4;

Skel load(CidrsIn where) {
  Skel skel(lib_test_bpf__open());
  REQUIRE(skel);
  auto* ro = skel->rodata;
  if (where == CidrsIn::kConstants) {
    ro->n_v4 = 2;
    ro->v4_net[0] = v4("172.24.0.0"), ro->v4_mask[0] = v4("255.248.0.0");  // 172.24.0.0/13
    ro->v4_net[1] = v4("10.0.0.8"), ro->v4_mask[1] = v4("255.255.255.255");
    ro->n_v6 = 1;
    auto net = v6("fd00:10:96::"), mask = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:0");  // /112
    std::memcpy(ro->v6_net[0], net.data(), 16);
    std::memcpy(ro->v6_mask[0], mask.data(), 16);
  }  // else the defaults: more than can be inlined, so every address goes to the trie
  REQUIRE(bpf_map__set_max_entries(skel->maps.awaiting_reply, kBuckets) == 0);
  ro->bucket_mask = kBuckets - 1;
  ro->every_flow = 0;
  ro->held_per_cpu = kHeldPerCpu;
  REQUIRE(bpf_map__set_max_entries(skel->maps.held_flows, kHeldPerCpu * libbpf_num_possible_cpus()) == 0);
  REQUIRE(lib_test_bpf__load(skel.get()) == 0);

  if (where == CidrsIn::kTrie) {
    auto add = [&](uint32_t prefixlen, std::array<uint8_t, 16> addr) {
      svc_cidr_key key{};
      key.prefixlen = prefixlen;
      std::memcpy(key.addr, addr.data(), 16);
      uint8_t one = 1;
      REQUIRE(bpf_map__update_elem(skel->maps.service_cidrs, &key, sizeof(key), &one, sizeof(one), BPF_ANY) == 0);
    };
    add(96 + 13, v6("::ffff:172.24.0.0"));  // IPv4 prefixes are kept IPv4-mapped
    add(96 + 32, v6("::ffff:10.0.0.8"));
    add(112, v6("fd00:10:96::"));
  }
  return skel;
}

// Runs prog once with args as its context (on CPU cpu, when given); returns what it returned.
uint32_t run(bpf_program* prog, std::vector<uint64_t> args, int cpu = -1) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args.data(), .ctx_size_in = static_cast<__u32>(args.size() * 8));
  if (cpu >= 0) {
    opts.flags = BPF_F_TEST_RUN_ON_CPU;
    opts.cpu = static_cast<__u32>(cpu);
  }
  int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
  INFO(bpf_program__name(prog) << ": " << std::strerror(-err));
  REQUIRE(err == 0);
  return opts.retval;
}

bool in_cidrs_v4(lib_test_bpf* skel, const char* addr) { return run(skel->progs.cidr_v4, {v4(addr)}) == 1; }

bool in_cidrs_v6(lib_test_bpf* skel, const char* addr) {
  auto a = v6(addr);
  uint64_t words[2];
  std::memcpy(words, a.data(), 16);
  return run(skel->progs.cidr_v6, {words[0], words[1]}) == 1;
}

// A reply hash that lands in the given bucket, with a tag made of low.
uint64_t hash_in(uint32_t bucket, uint32_t low) { return uint64_t{bucket} << 32 | low; }

uint32_t remember(lib_test_bpf* skel, uint64_t ct, uint64_t hash) {
  return run(skel->progs.await_remember, {ct, hash});
}
uint32_t find(lib_test_bpf* skel, uint64_t ct, uint64_t hash) { return run(skel->progs.await_find, {ct, hash}); }
bool answer(lib_test_bpf* skel, uint64_t ct, uint64_t hash) { return run(skel->progs.await_answer, {ct, hash}) == 1; }

// A per-CPU counter summed over the CPUs, as userspace reads it.
uint64_t counter(lib_test_bpf* skel, uint32_t which) {
  std::vector<uint64_t> per_cpu(libbpf_num_possible_cpus());
  REQUIRE(bpf_map__lookup_elem(skel->maps.counters, &which, sizeof(which), per_cpu.data(),
                               per_cpu.size() * sizeof(uint64_t), 0) == 0);
  return std::accumulate(per_cpu.begin(), per_cpu.end(), uint64_t{0});
}

}  // namespace

TEST_CASE("CIDR match: addresses in and out of the service CIDRs, IPv4 and IPv6") {
  auto where = GENERATE(CidrsIn::kConstants, CidrsIn::kTrie);
  INFO((where == CidrsIn::kConstants ? "CIDRs as constants" : "CIDRs in the trie"));
  Skel skel = load(where);
  auto* s = skel.get();

  CHECK(in_cidrs_v4(s, "172.24.0.1"));
  CHECK(in_cidrs_v4(s, "172.31.255.255"));   // the /13's last address
  CHECK_FALSE(in_cidrs_v4(s, "172.32.0.0"));  // the next one
  CHECK_FALSE(in_cidrs_v4(s, "172.23.255.255"));
  CHECK(in_cidrs_v4(s, "10.0.0.8"));          // a bare address
  CHECK_FALSE(in_cidrs_v4(s, "10.0.0.9"));
  CHECK_FALSE(in_cidrs_v4(s, "0.0.0.0"));

  CHECK(in_cidrs_v6(s, "fd00:10:96::1"));
  CHECK(in_cidrs_v6(s, "fd00:10:96::ffff"));
  CHECK_FALSE(in_cidrs_v6(s, "fd00:10:96::1:0"));
  CHECK_FALSE(in_cidrs_v6(s, "fd00:10:97::1"));
  CHECK_FALSE(in_cidrs_v6(s, "::"));
  // An IPv6 socket's view of an IPv4 service IP.
  CHECK(in_cidrs_v6(s, "::ffff:172.24.0.1"));
  CHECK_FALSE(in_cidrs_v6(s, "::ffff:172.32.0.1"));
  CHECK_FALSE(in_cidrs_v6(s, "::172.24.0.1"));  // IPv4-compatible, not mapped
}

TEST_CASE("No CIDRs: nothing matches") {
  Skel skel(lib_test_bpf__open());
  REQUIRE(skel);
  skel->rodata->n_v4 = 0;
  skel->rodata->n_v6 = 0;
  REQUIRE(lib_test_bpf__load(skel.get()) == 0);
  CHECK_FALSE(in_cidrs_v4(skel.get(), "172.24.0.1"));
  CHECK_FALSE(in_cidrs_v6(skel.get(), "fd00:10:96::1"));
  CHECK_FALSE(in_cidrs_v6(skel.get(), "::ffff:172.24.0.1"));
}

TEST_CASE("Awaiting reply: a remembered flow is found by its hash and conntrack entry, until answered") {
  Skel skel = load(CidrsIn::kConstants);
  auto* s = skel.get();
  const uint64_t ct = 0xffff888012345600, hash = hash_in(5, 0x1234);

  CHECK(find(s, ct, hash) == kAbsent);
  CHECK(remember(s, ct, hash) == kRememberedNew);
  CHECK(find(s, ct, hash) == kAwaiting);
  CHECK(counter(s, SVC_CNT_AWAITING_INSERTS) == 1);
  // Another flow's entry, or another tuple's hash, is not this flow.
  CHECK(find(s, ct + 0x100, hash) == kAbsent);
  CHECK(find(s, ct, hash_in(5, 0x5678)) == kAbsent);
  CHECK(find(s, ct, hash_in(6, 0x1234)) == kAbsent);
  // The bucket index uses only bucket_mask's bits of the hash's high word.
  CHECK(find(s, ct, hash_in(5 + kBuckets, 0x1234)) == kAwaiting);

  // A retransmit does not count as a new flow: it is the held flow's cue to be released.
  CHECK(remember(s, ct, hash) == kRememberedAgain);
  CHECK(counter(s, SVC_CNT_AWAITING_INSERTS) == 1);

  // The first reply: the flow is no longer awaited.
  CHECK(answer(s, ct, hash));
  CHECK(find(s, ct, hash) == kAnswered);
  CHECK(counter(s, SVC_CNT_AWAITING_REPLIED) == 1);
  CHECK_FALSE(answer(s, ct + 0x100, hash));

  // A new flow in a recycled conntrack entry with the same tuple is awaited again.
  CHECK(remember(s, ct, hash) == kRememberedNew);
  CHECK(find(s, ct, hash) == kAwaiting);
  CHECK(counter(s, SVC_CNT_AWAITING_INSERTS) == 2);
  CHECK(counter(s, SVC_CNT_AWAITING_EVICTED) == 0);
}

TEST_CASE("Awaiting reply: a full bucket gives an answered entry first, then its oldest") {
  Skel skel = load(CidrsIn::kConstants);
  auto* s = skel.get();
  const uint32_t bucket = 9;
  std::vector<uint64_t> hashes;
  for (uint32_t i = 0; i < SVC_AWAITING_WAYS + 2; i++) hashes.push_back(hash_in(bucket, 0x100 * (i + 1)));
  auto ct_of = [](size_t i) { return 0xffff888000001000 + 0x100 * i; };

  for (size_t i = 0; i < SVC_AWAITING_WAYS; i++) remember(s, ct_of(i), hashes[i]);
  for (size_t i = 0; i < SVC_AWAITING_WAYS; i++) CHECK(find(s, ct_of(i), hashes[i]) == kAwaiting);

  // One more flow: an answered entry makes room, and nothing awaited is lost.
  REQUIRE(answer(s, ct_of(2), hashes[2]));
  const size_t next = SVC_AWAITING_WAYS;
  remember(s, ct_of(next), hashes[next]);
  CHECK(find(s, ct_of(next), hashes[next]) == kAwaiting);
  CHECK(find(s, ct_of(2), hashes[2]) == kAbsent);
  CHECK(counter(s, SVC_CNT_AWAITING_EVICTED) == 0);

  // And another: all are awaited, so the oldest (the first remembered) is evicted, and counted.
  remember(s, ct_of(next + 1), hashes[next + 1]);
  CHECK(find(s, ct_of(next + 1), hashes[next + 1]) == kAwaiting);
  CHECK(find(s, ct_of(0), hashes[0]) == kAbsent);
  for (size_t i : {size_t{1}, size_t{3}, next}) CHECK(find(s, ct_of(i), hashes[i]) == kAwaiting);
  CHECK(counter(s, SVC_CNT_AWAITING_EVICTED) == 1);
  CHECK(counter(s, SVC_CNT_AWAITING_INSERTS) == SVC_AWAITING_WAYS + 2);
}

TEST_CASE("Held flows: each CPU takes the slots of its part in turn, and releases a flow still unanswered") {
  Skel skel = load(CidrsIn::kConstants);
  auto* s = skel.get();
  auto take = [&](uint64_t ct, uint32_t state, int cpu) { return run(s->progs.held_take, {ct, state}, cpu); };
  auto owned = [&](uint32_t slot, uint64_t ct) { return run(s->progs.held_owned, {slot, ct}) == 1; };
  auto ct_of = [](uint64_t i) { return 0xffff888000002000 + 0x100 * i; };
  ring_buffer* released = ring_buffer__new(bpf_map__fd(s->maps.events), [](void*, void*, size_t) { return 0; },
                                           nullptr, nullptr);
  REQUIRE(released);

  // CPU 0's part is slots 0..3: two flows left unanswered, two answered.
  for (uint32_t i = 0; i < kHeldPerCpu; i++) CHECK(take(ct_of(i), i < 2 ? SVC_HELD : SVC_HELD_COUNTED, 0) == i);
  CHECK(owned(0, ct_of(0)));
  CHECK_FALSE(owned(0, ct_of(1)));  // another flow's slot
  CHECK_FALSE(owned(0xffffffffu, ct_of(0)));  // an entry that names no slot
  CHECK(counter(s, SVC_CNT_HELD_RELEASED) == 0);

  // Round again: the unanswered flows in slots 0 and 1 are released (their records sent), the
  // answered one in slot 2 is not; each slot is its new flow's.
  CHECK(take(ct_of(4), SVC_HELD, 0) == 0);
  CHECK(take(ct_of(5), SVC_HELD, 0) == 1);
  CHECK(take(ct_of(6), SVC_HELD, 0) == 2);
  CHECK(counter(s, SVC_CNT_HELD_RELEASED) == 2);
  CHECK(ring_buffer__consume(released) == 2);  // one NAT record each: no route, not forwarded
  CHECK_FALSE(owned(0, ct_of(0)));
  CHECK(owned(0, ct_of(4)));

  // Another CPU takes from its own part.
  if (libbpf_num_possible_cpus() > 1 && sysconf(_SC_NPROCESSORS_ONLN) > 1) CHECK(take(ct_of(7), SVC_HELD, 1) == kHeldPerCpu);
  ring_buffer__free(released);
}

TEST_CASE("Held flows: connect times in log2 buckets of µs, as userspace's histogram reads them") {
  Skel skel = load(CidrsIn::kConstants);
  auto bucket = [&](uint64_t us) { return run(skel->progs.connect_bucket_of, {us}); };
  CHECK(bucket(0) == 0);
  CHECK(bucket(1) == 0);
  CHECK(bucket(2) == 1);
  CHECK(bucket(3) == 1);
  CHECK(bucket(1000) == 9);     // [512, 1024)
  CHECK(bucket(1024) == 10);
  CHECK(bucket(1'500'000) == 20);  // 1.5 s: [2^20, 2^21) µs
  CHECK(bucket(uint64_t{1} << 40) == SVC_CONNECT_BUCKETS - 1);  // the last bucket holds the rest
}

TEST_CASE("Held flows: a staged route record is its flow's, or a lookup's made before the port was picked") {
  Skel skel = load(CidrsIn::kConstants);
  auto is_flows = [&](uint16_t route_port, const char* route_src, uint16_t flow_port, const char* flow_src) {
    return run(skel->progs.route_is_flows,
               {uint64_t{v4(route_src)} << 32 | route_port, uint64_t{v4(flow_src)} << 32 | flow_port}) == 1;
  };
  CHECK(is_flows(40000, "10.141.13.182", 40000, "10.141.13.182"));
  CHECK(is_flows(0, "10.141.13.182", 40000, "10.141.13.182"));  // looked up before the port was picked
  CHECK(is_flows(0, "0.0.0.0", 40000, "10.141.13.182"));        // ... and the source
  CHECK_FALSE(is_flows(40001, "10.141.13.182", 40000, "10.141.13.182"));  // another connect's
  CHECK_FALSE(is_flows(40000, "10.0.0.12", 40000, "10.141.13.182"));
}

TEST_CASE("Reply hash: conntrack's reply tuple and the reply packet's headers give the same hash") {
  Skel skel = load(CidrsIn::kConstants);
  auto* s = skel.get();
  auto hash_of = [&](uint16_t family, uint8_t proto, std::array<uint8_t, 16> src, std::array<uint8_t, 16> dst,
                     uint16_t sport, uint16_t dport) {
    uint64_t a[2], b[2];
    std::memcpy(a, src.data(), 16);
    std::memcpy(b, dst.data(), 16);
    uint64_t head = family | uint64_t{proto} << 16 | uint64_t{htons(sport)} << 32 | uint64_t{htons(dport)} << 48;
    CHECK(run(s->progs.hash_both_ways, {head, a[0], a[1], b[0], b[1]}) == 1);
    return skel->bss->reply_hash_out;
  };
  auto v4_in16 = [](const char* text) {
    std::array<uint8_t, 16> a{};
    uint32_t addr = v4(text);
    std::memcpy(a.data(), &addr, 4);
    return a;
  };
  // The reply of 10.141.13.182:53742 -> 172.24.0.1:443, DNAT'd to 10.0.0.8:6443.
  uint64_t tcp4 = hash_of(AF_INET, IPPROTO_TCP, v4_in16("10.0.0.8"), v4_in16("10.141.13.182"), 6443, 53742);
  uint64_t tcp6 = hash_of(AF_INET6, IPPROTO_TCP, v6("fd00::8"), v6("fd00:1::182"), 6443, 53742);
  // Each part of the tuple counts.
  CHECK(hash_of(AF_INET, IPPROTO_UDP, v4_in16("10.0.0.8"), v4_in16("10.141.13.182"), 6443, 53742) != tcp4);
  CHECK(hash_of(AF_INET, IPPROTO_TCP, v4_in16("10.141.13.182"), v4_in16("10.0.0.8"), 6443, 53742) != tcp4);
  CHECK(hash_of(AF_INET, IPPROTO_TCP, v4_in16("10.0.0.8"), v4_in16("10.141.13.182"), 53742, 6443) != tcp4);
  CHECK(hash_of(AF_INET6, IPPROTO_TCP, v6("fd00::8"), v6("fd00:1::183"), 6443, 53742) != tcp6);
  CHECK(tcp4 != tcp6);
}

int main(int argc, char* argv[]) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "test_bpf_lib: skipped: loading BPF programs and BPF_PROG_TEST_RUN need root\n");
    return kSkipped;
  }
  return Catch::Session().run(argc, argv);
}

namespace {

// Packets as the network header on, built byte by byte, for reply_tuple.
std::vector<uint8_t> ipv4_header(uint8_t proto, const char* src, const char* dst) {
  std::vector<uint8_t> p(20, 0);
  p[0] = 0x45, p[8] = 64, p[9] = proto;
  uint32_t s = v4(src), d = v4(dst);
  std::memcpy(&p[12], &s, 4);
  std::memcpy(&p[16], &d, 4);
  return p;
}

std::vector<uint8_t> ipv6_header(uint8_t proto, const char* src, const char* dst) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60, p[6] = proto, p[7] = 64;
  auto s = v6(src), d = v6(dst);
  std::memcpy(&p[8], s.data(), 16);
  std::memcpy(&p[24], d.data(), 16);
  return p;
}

void append_ports(std::vector<uint8_t>& p, uint16_t sport, uint16_t dport) {
  uint16_t ports[2] = {htons(sport), htons(dport)};
  const auto* b = reinterpret_cast<const uint8_t*>(ports);
  p.insert(p.end(), b, b + 4);
}

void append(std::vector<uint8_t>& p, const std::vector<uint8_t>& more) { p.insert(p.end(), more.begin(), more.end()); }

// An ICMP(v6) error of type/code: its 8-byte header, then the packet it quotes.
std::vector<uint8_t> icmp_error(std::vector<uint8_t> outer, uint8_t type, uint8_t code, const std::vector<uint8_t>& quoted) {
  append(outer, {type, code, 0, 0, 0, 0, 0, 0});
  append(outer, quoted);
  return outer;
}

// An IPv6 address's last 4 bytes, as reply_tuple keeps them.
uint32_t last_word(const char* addr) {
  uint32_t w;
  std::memcpy(&w, v6(addr).data() + 12, 4);
  return w;
}

// Runs reply_tuple on the packet; returns whether it was taken.
bool reply_tuple(lib_test_bpf* skel, std::vector<uint8_t> packet) {
  REQUIRE(packet.size() <= 96);
  packet.resize((packet.size() + 7) / 8 * 8, 0);
  std::vector<uint64_t> ctx(packet.size() / 8);
  std::memcpy(ctx.data(), packet.data(), packet.size());
  return run(skel->progs.reply_tuple, ctx) == 1;
}

}  // namespace

TEST_CASE("Reply headers: a TCP or UDP reply is its own reply tuple, an ICMP error the quoted one turned round") {
  Skel skel = load(CidrsIn::kConstants);
  auto* s = skel.get();
  auto* got = s->bss;

  auto syn_ack = ipv4_header(IPPROTO_TCP, "10.0.0.8", "10.141.13.182");
  append_ports(syn_ack, 6443, 53742);
  REQUIRE(reply_tuple(s, syn_ack));
  CHECK(got->got_src == v4("10.0.0.8"));
  CHECK(got->got_dst == v4("10.141.13.182"));
  CHECK((got->got_sport == 6443 && got->got_dport == 53742));
  CHECK((got->got_proto == IPPROTO_TCP && got->got_icmp_error == 0));

  // A port unreachable from the backend about the UDP query 10.141.13.182:40000 -> 10.0.0.8:5353.
  auto query = ipv4_header(IPPROTO_UDP, "10.141.13.182", "10.0.0.8");
  append_ports(query, 40000, 5353);
  REQUIRE(reply_tuple(s, icmp_error(ipv4_header(IPPROTO_ICMP, "10.0.0.8", "10.141.13.182"), 3, 3, query)));
  CHECK(got->got_src == v4("10.0.0.8"));
  CHECK(got->got_dst == v4("10.141.13.182"));
  CHECK((got->got_sport == 5353 && got->got_dport == 40000));
  CHECK((got->got_proto == IPPROTO_UDP && got->got_icmp_error == 1));

  // IPv6: a SYN-ACK, and an ICMPv6 destination unreachable about the SYN.
  auto syn_ack6 = ipv6_header(IPPROTO_TCP, "fd00::8", "fd00::c");
  append_ports(syn_ack6, 6443, 40001);
  REQUIRE(reply_tuple(s, syn_ack6));
  CHECK((got->got_src == last_word("fd00::8") && got->got_sport == 6443 && got->got_dport == 40001));
  auto syn6 = ipv6_header(IPPROTO_TCP, "fd00::c", "fd00::8");
  append_ports(syn6, 40001, 6443);
  REQUIRE(reply_tuple(s, icmp_error(ipv6_header(IPPROTO_ICMPV6, "fd00::1", "fd00::c"), 1, 4, syn6)));
  CHECK((got->got_src == last_word("fd00::8") && got->got_dst == last_word("fd00::c")));
  CHECK((got->got_sport == 6443 && got->got_dport == 40001 && got->got_icmp_error == 1));

  // Not a reply svctrace can place: an echo reply, an ICMP error about an ICMP packet, SCTP.
  CHECK_FALSE(reply_tuple(s, icmp_error(ipv4_header(IPPROTO_ICMP, "10.0.0.8", "10.141.13.182"), 0, 0, {})));
  auto ping = ipv4_header(IPPROTO_ICMP, "10.141.13.182", "10.0.0.8");
  append(ping, {8, 0, 0, 0, 0, 0, 0, 0});
  CHECK_FALSE(reply_tuple(s, icmp_error(ipv4_header(IPPROTO_ICMP, "10.0.0.1", "10.141.13.182"), 3, 1, ping)));
  auto sctp = ipv4_header(132, "10.0.0.8", "10.141.13.182");
  append_ports(sctp, 1, 2);
  CHECK_FALSE(reply_tuple(s, sctp));
}
