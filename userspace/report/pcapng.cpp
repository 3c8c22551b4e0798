#include "report/pcapng.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace svctrace {
namespace {

constexpr uint32_t kSectionHeaderBlock = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescriptionBlock = 0x00000001;
constexpr uint32_t kEnhancedPacketBlock = 0x00000006;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kLinktypeRaw = 101;
constexpr uint8_t kNanosecondResolution = 9;  // if_tsresol: 10^-9 s per timestamp unit

// Option codes. opt_comment is valid in every block; the others belong to the block named.
enum : uint16_t {
  kOptEndOfOpt = 0,
  kOptComment = 1,
  kIfName = 2,
  kIfDescription = 3,
  kShbUserAppl = 4,
  kIfTsresol = 9,
};

template <typename T>
void put(std::string& out, T value) {
  char raw[sizeof value];
  std::memcpy(raw, &value, sizeof value);
  out.append(raw, sizeof value);
}

// Every block and option value is padded with zeros to 32 bits; its own length field excludes the padding.
void put_padded(std::string& out, std::string_view bytes) {
  out.append(bytes);
  out.append((4 - bytes.size() % 4) % 4, '\0');
}

// An option's length field is 16 bits. Text options are UTF-8, so a long one is cut before a
// continuation byte (10xxxxxx) rather than in the middle of a character.
std::string_view fit_option(std::string_view text) {
  constexpr size_t kMax = std::numeric_limits<uint16_t>::max();
  if (text.size() <= kMax) return text;
  size_t end = kMax;
  while (end > 0 && (static_cast<uint8_t>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

// The options of one block; an empty list is written as nothing at all, a non-empty one ends with
// opt_endofopt.
class Options {
 public:
  Options& add(uint16_t code, std::string_view value) {
    if (value.empty()) return *this;
    value = fit_option(value);
    put(bytes_, code);
    put(bytes_, static_cast<uint16_t>(value.size()));
    put_padded(bytes_, value);
    return *this;
  }
  void append_to(std::string& body) const {
    if (bytes_.empty()) return;
    body += bytes_;
    put(body, kOptEndOfOpt);
    put(body, uint16_t{0});
  }

 private:
  std::string bytes_;
};

// The block's total length comes both first and last, so a reader can walk the file backwards too.
void append_block(std::string& out, uint32_t type, std::string_view body) {
  const auto total = static_cast<uint32_t>(4 + 4 + body.size() + 4);
  put(out, type);
  put(out, total);
  out.append(body);
  put(out, total);
}

}  // namespace

PcapngWriter::PcapngWriter() {
  std::string body;
  put(body, kByteOrderMagic);
  put(body, uint16_t{1});   // major version
  put(body, uint16_t{0});   // minor version
  put(body, int64_t{-1});   // section length: not known while packets are still being added
  Options().add(kShbUserAppl, "svctrace").append_to(body);
  append_block(bytes_, kSectionHeaderBlock, body);
}

uint32_t PcapngWriter::add_interface(std::string_view name, std::string_view description, uint32_t snaplen) {
  std::string body;
  put(body, kLinktypeRaw);
  put(body, uint16_t{0});  // reserved
  put(body, snaplen);
  const char tsresol = static_cast<char>(kNanosecondResolution);
  Options().add(kIfName, name).add(kIfDescription, description).add(kIfTsresol, {&tsresol, 1})
      .append_to(body);
  append_block(bytes_, kInterfaceDescriptionBlock, body);
  snaplens_.push_back(snaplen);
  return static_cast<uint32_t>(snaplens_.size() - 1);
}

void PcapngWriter::add_packet(uint32_t interface, uint64_t unix_ns, std::span<const uint8_t> data,
                              uint32_t wire_len, std::string_view comment) {
  if (interface >= snaplens_.size())
    throw std::invalid_argument("pcapng: packet for interface " + std::to_string(interface) + ", but only " +
                                std::to_string(snaplens_.size()) + " described");
  // More bytes than the interface's snaplen, or than the packet had on the wire, would contradict the
  // file's own headers: keep the file consistent rather than refuse the packet.
  const uint32_t snaplen = snaplens_[interface];
  if (snaplen != 0 && data.size() > snaplen) data = data.first(snaplen);
  const auto captured = static_cast<uint32_t>(data.size());

  std::string body;
  put(body, interface);
  put(body, static_cast<uint32_t>(unix_ns >> 32));  // the timestamp's high half comes first
  put(body, static_cast<uint32_t>(unix_ns));
  put(body, captured);
  put(body, std::max(wire_len, captured));
  put_padded(body, {reinterpret_cast<const char*>(data.data()), data.size()});
  Options().add(kOptComment, comment).append_to(body);
  append_block(bytes_, kEnhancedPacketBlock, body);
  ++packets_;
}

}  // namespace svctrace
