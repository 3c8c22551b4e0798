#include "correlate/address.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace svctrace {

IpAddr IpAddr::from_bytes(uint8_t family, const uint8_t* sixteen) {
  IpAddr ip;
  ip.family = family;
  std::memcpy(ip.bytes.data(), sixteen, family == AF_INET ? 4 : 16);
  return ip;
}

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  if (text.find('\0') != std::string_view::npos) return std::nullopt;  // inet_pton would stop there
  std::string s(text);
  IpAddr ip;
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

bool IpAddr::is_zero() const {
  return std::all_of(bytes.begin(), bytes.begin() + size(), [](uint8_t b) { return b == 0; });
}

size_t IpAddr::size() const { return family == AF_INET6 ? 16 : 4; }

std::string IpAddr::str() const {
  if (!is_set()) return "";
  if (family == AF_INET) {  // as inet_ntop writes it, without its sprintf (every flow line has several)
    char buf[16], *p = buf;
    for (size_t i = 0; i < 4; i++) {
      unsigned b = bytes[i];
      if (b >= 100) *p++ = static_cast<char>('0' + b / 100);
      if (b >= 10) *p++ = static_cast<char>('0' + b / 10 % 10);
      *p++ = static_cast<char>('0' + b % 10);
      if (i < 3) *p++ = '.';
    }
    return std::string(buf, p);
  }
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(family, bytes.data(), buf, sizeof(buf))) return "?";  // a family from a bad record
  return buf;
}

// Clears the bits past prefix_len; returns true when any were set.
static bool mask_host_bits(IpAddr& ip, unsigned prefix_len) {
  bool had = false;
  for (size_t i = 0; i < ip.size(); i++) {
    unsigned keep = prefix_len >= (i + 1) * 8 ? 8 : (prefix_len > i * 8 ? prefix_len - i * 8 : 0);
    uint8_t mask = keep == 0 ? 0 : static_cast<uint8_t>(0xff << (8 - keep));
    had |= (ip.bytes[i] & ~mask) != 0;
    ip.bytes[i] &= mask;
  }
  return had;
}

// The user's text in double quotes for an error message, control characters escaped (\n, \x01):
// whatever was typed, the message stays one line.
static std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') out += fmt::format("\\{}", ch);
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += ch;
  }
  return out + '"';
}

Cidr Cidr::parse(std::string_view text) {
  if (text.empty()) throw CidrError("empty CIDR: expected a prefix such as 172.24.0.0/13");
  auto slash = text.find('/');
  auto addr_text = text.substr(0, slash);
  auto ip = IpAddr::parse(addr_text);
  if (!ip) throw CidrError(fmt::format("invalid CIDR {}: {} is not an IP address", quoted(text), quoted(addr_text)));

  unsigned max_len = ip->size() * 8, len = max_len;
  if (slash != std::string_view::npos) {
    auto len_text = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (len_text.empty() || ec != std::errc() || end != len_text.data() + len_text.size() || len > max_len)
      throw CidrError(fmt::format("invalid CIDR {}: prefix length must be 0..{}", quoted(text), max_len));
  }
  Cidr c{*ip, static_cast<uint8_t>(len)};
  if (mask_host_bits(c.addr, len))
    throw CidrError(fmt::format("invalid CIDR {}: host bits set; did you mean {}?", quoted(text), c.str()));
  return c;
}

bool Cidr::contains(const IpAddr& ip) const {
  if (ip.family != addr.family) return false;
  IpAddr masked = ip;
  mask_host_bits(masked, prefix_len);
  return masked == addr;
}

std::string Cidr::str() const { return fmt::format("{}/{}", addr.str(), prefix_len); }

const char* proto_name(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    default: return "other";
  }
}

std::string endpoint(const IpAddr& ip, uint16_t port) {
  return ip.family == AF_INET6 ? fmt::format("[{}]:{}", ip.str(), port) : fmt::format("{}:{}", ip.str(), port);
}

}  // namespace svctrace
