// The pcapng encoder (report/pcapng.h): the bytes are read back here by a small reader written from
// the format's text, so a block or option misplaced by the writer shows as a wrong field, not as a
// file tshark refuses later.
#include <catch2/catch.hpp>

#include <bit>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "report/pcapng.h"

using namespace svctrace;

namespace {

static_assert(std::endian::native == std::endian::little, "the bytes spelled out below are little-endian");

template <typename T>
T read_at(const std::string& s, size_t offset) {
  REQUIRE(offset + sizeof(T) <= s.size());
  T value;
  std::memcpy(&value, s.data() + offset, sizeof value);
  return value;
}

struct Block {
  uint32_t type;
  std::string body;  // between the leading and the trailing total length
};

// Walks the whole file: every block a multiple of 4 bytes, its length repeated at its end.
std::vector<Block> read_blocks(const std::string& file) {
  std::vector<Block> blocks;
  size_t at = 0;
  while (at < file.size()) {
    const auto type = read_at<uint32_t>(file, at);
    const auto total = read_at<uint32_t>(file, at + 4);
    INFO("block at " << at << " of type " << type << ", total length " << total);
    REQUIRE(total % 4 == 0);
    REQUIRE(total >= 12);
    REQUIRE(at + total <= file.size());
    REQUIRE(read_at<uint32_t>(file, at + total - 4) == total);
    blocks.push_back({type, file.substr(at + 8, total - 12)});
    at += total;
  }
  REQUIRE(at == file.size());
  return blocks;
}

struct Option {
  uint16_t code;
  std::string value;
};

// The options from `offset` to the end of a block's body: each value padded with zeros to 32 bits,
// the list ended by opt_endofopt, nothing after it. No options at all is an empty body tail.
std::vector<Option> read_options(const std::string& body, size_t offset) {
  std::vector<Option> options;
  if (offset == body.size()) return options;
  while (true) {
    const auto code = read_at<uint16_t>(body, offset);
    const auto length = read_at<uint16_t>(body, offset + 2);
    offset += 4;
    if (code == 0) {
      REQUIRE(length == 0);
      REQUIRE(offset == body.size());
      return options;
    }
    const size_t padded = (length + 3) / 4 * 4;
    REQUIRE(offset + padded <= body.size());
    options.push_back({code, body.substr(offset, length)});
    CHECK(body.substr(offset + length, padded - length) == std::string(padded - length, '\0'));
    offset += padded;
  }
}

std::string option(const std::vector<Option>& options, uint16_t code) {
  for (const auto& o : options)
    if (o.code == code) return o.value;
  FAIL("no option " << code);
  return {};
}

bool has_option(const std::vector<Option>& options, uint16_t code) {
  for (const auto& o : options)
    if (o.code == code) return true;
  return false;
}

// An IPv4 header's first bytes, as a BPF program would snap them; odd-length on purpose.
std::vector<uint8_t> snapped(size_t n) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>(0x45 + i);
  return bytes;
}

constexpr uint32_t kSectionHeader = 0x0A0D0D0A, kInterfaceDescription = 1, kEnhancedPacket = 6;
constexpr size_t kEnhancedPacketFixed = 20;  // interface, timestamp high and low, captured, original

}  // namespace

TEST_CASE("a new pcapng file is one section header that names svctrace", "[pcapng]") {
  PcapngWriter w;
  CHECK(w.packets() == 0);
  CHECK(w.bytes().substr(0, 4) == "\x0A\x0D\x0D\x0A");
  const auto blocks = read_blocks(w.bytes());
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0].type == kSectionHeader);
  const auto& body = blocks[0].body;
  CHECK(read_at<uint32_t>(body, 0) == 0x1A2B3C4D);
  CHECK(read_at<uint16_t>(body, 4) == 1);
  CHECK(read_at<uint16_t>(body, 6) == 0);
  CHECK(read_at<int64_t>(body, 8) == -1);
  CHECK(option(read_options(body, 16), 4) == "svctrace");
}

TEST_CASE("pcapng interfaces are numbered from 0, raw IP with nanosecond timestamps", "[pcapng]") {
  PcapngWriter w;
  CHECK(w.add_interface("eth0", "the node's uplink", 128) == 0);
  CHECK(w.add_interface("cni0", "", 96) == 1);
  const auto blocks = read_blocks(w.bytes());
  REQUIRE(blocks.size() == 3);

  const auto& eth0 = blocks[1];
  CHECK(eth0.type == kInterfaceDescription);
  CHECK(read_at<uint16_t>(eth0.body, 0) == 101);
  CHECK(read_at<uint16_t>(eth0.body, 2) == 0);
  CHECK(read_at<uint32_t>(eth0.body, 4) == 128);
  const auto options = read_options(eth0.body, 8);
  CHECK(option(options, 2) == "eth0");
  CHECK(option(options, 3) == "the node's uplink");  // 17 bytes: padded by 3
  CHECK(option(options, 9) == "\x09");

  const auto& cni0 = blocks[2];
  CHECK(read_at<uint32_t>(cni0.body, 4) == 96);
  const auto cni0_options = read_options(cni0.body, 8);
  CHECK(option(cni0_options, 2) == "cni0");
  CHECK_FALSE(has_option(cni0_options, 3));
}

TEST_CASE("a pcapng packet keeps its interface, timestamp, lengths, bytes and comment", "[pcapng]") {
  PcapngWriter w;
  w.add_interface("eth0", "", 128);
  w.add_interface("cni0", "", 128);
  const uint64_t ns = 1'796'000'000'123'456'789;  // in 2026: the high half is not 0
  const auto data = snapped(41);
  const std::string comment = "hook: tcp_connect dev eth0\nverdict: no SYN-ACK (source 10.0.0.8)";
  w.add_packet(1, ns, data, 60, comment);
  CHECK(w.packets() == 1);

  const auto blocks = read_blocks(w.bytes());
  REQUIRE(blocks.size() == 4);
  const auto& epb = blocks[3];
  CHECK(epb.type == kEnhancedPacket);
  CHECK(read_at<uint32_t>(epb.body, 0) == 1);
  CHECK(read_at<uint32_t>(epb.body, 4) == static_cast<uint32_t>(ns >> 32));
  CHECK(read_at<uint32_t>(epb.body, 8) == static_cast<uint32_t>(ns & 0xFFFFFFFF));
  CHECK(read_at<uint32_t>(epb.body, 12) == 41);
  CHECK(read_at<uint32_t>(epb.body, 16) == 60);
  CHECK(epb.body.substr(kEnhancedPacketFixed, 41) == std::string(data.begin(), data.end()));
  CHECK(epb.body.substr(kEnhancedPacketFixed + 41, 3) == std::string(3, '\0'));
  const auto options = read_options(epb.body, kEnhancedPacketFixed + 44);
  REQUIRE(options.size() == 1);
  CHECK(options[0].code == 1);
  CHECK(options[0].value == comment);  // its own length, no NUL
}

TEST_CASE("pcapng pads an odd-length packet and comment with zeros to 32 bits", "[pcapng]") {
  PcapngWriter w;
  w.add_interface("lo", "", 0);
  const size_t header = w.bytes().size();
  const uint8_t data[] = {0x45};
  w.add_packet(0, 0x0000000100000002, data, 60, "hi!");
  // Spelled out from the format, not from the writer: 48 bytes.
  const std::string expected(
      "\x06\0\0\0" "\x30\0\0\0"                    // type 6, total length 48
      "\0\0\0\0" "\x01\0\0\0" "\x02\0\0\0"         // interface 0, timestamp high, low
      "\x01\0\0\0" "\x3C\0\0\0"                    // captured 1, original 60
      "\x45\0\0\0"                                 // the byte and 3 of padding
      "\x01\0\x03\0" "hi!\0"                       // opt_comment, length 3, padded
      "\0\0\0\0"                                   // opt_endofopt
      "\x30\0\0\0",                                // total length again
      48);
  CHECK(w.bytes().substr(header) == expected);
}

TEST_CASE("a pcapng packet without a comment has no options", "[pcapng]") {
  PcapngWriter w;
  w.add_interface("eth0", "", 128);
  w.add_packet(0, 1, snapped(40), 40, "");
  const auto blocks = read_blocks(w.bytes());
  REQUIRE(blocks.size() == 3);
  CHECK(blocks[2].body.size() == kEnhancedPacketFixed + 40);
}

TEST_CASE("pcapng refuses a packet for an interface never described, the file unchanged", "[pcapng]") {
  PcapngWriter w;
  CHECK_THROWS_AS(w.add_packet(0, 1, snapped(20), 20, ""), std::invalid_argument);
  w.add_interface("eth0", "", 128);
  const std::string before = w.bytes();
  CHECK_THROWS_AS(w.add_packet(1, 1, snapped(20), 20, "x"), std::invalid_argument);
  CHECK(w.bytes() == before);
  CHECK(w.packets() == 0);
}

TEST_CASE("a pcapng packet is cut to its snaplen and never longer than on the wire", "[pcapng]") {
  PcapngWriter w;
  w.add_interface("eth0", "", 32);
  w.add_packet(0, 1, snapped(41), 1500, "");
  w.add_packet(0, 2, snapped(20), 10, "");  // a wire length below the captured bytes is raised to them
  const auto blocks = read_blocks(w.bytes());
  REQUIRE(blocks.size() == 4);
  CHECK(read_at<uint32_t>(blocks[2].body, 12) == 32);
  CHECK(read_at<uint32_t>(blocks[2].body, 16) == 1500);
  CHECK(read_at<uint32_t>(blocks[3].body, 12) == 20);
  CHECK(read_at<uint32_t>(blocks[3].body, 16) == 20);
}

TEST_CASE("a pcapng comment too long for an option is cut before a character", "[pcapng]") {
  PcapngWriter w;
  w.add_interface("eth0", "", 128);
  // "✗" is 3 bytes: 65534 bytes of 'a' leave it starting at byte 65534, across the 65535 limit.
  const std::string comment = std::string(65534, 'a') + "✗";
  w.add_packet(0, 1, snapped(20), 20, comment);
  const auto blocks = read_blocks(w.bytes());
  const auto options = read_options(blocks[2].body, kEnhancedPacketFixed + 20);
  REQUIRE(options.size() == 1);
  CHECK(options[0].value == std::string(65534, 'a'));
}
