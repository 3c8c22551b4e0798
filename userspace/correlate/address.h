// IP addresses and CIDRs as svctrace handles them: 16 bytes, IPv4 in the first four (network order),
// matching struct svc_tuple in events.h.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace svctrace {

struct IpAddr {
  uint8_t family = 0;  // AF_INET, AF_INET6, or 0 for "none"
  std::array<uint8_t, 16> bytes{};

  static IpAddr from_bytes(uint8_t family, const uint8_t* sixteen);
  static std::optional<IpAddr> parse(std::string_view text);
  bool is_set() const { return family != 0; }
  bool is_zero() const;
  size_t size() const;  // 4 or 16
  std::string str() const;
  auto operator<=>(const IpAddr&) const = default;
};

// Thrown for a --cidr argument that cannot be used; what() is the one line shown to the user.
struct CidrError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Cidr {
  IpAddr addr;
  uint8_t prefix_len = 0;

  // Accepts "a.b.c.d/n" or a bare address (taken as /32). Rejects host bits set, naming the network meant.
  static Cidr parse(std::string_view text);
  bool contains(const IpAddr& ip) const;
  std::string str() const;
  bool operator==(const Cidr&) const = default;
};

// "tcp", "udp", or "other" for any other IP protocol number.
const char* proto_name(uint8_t proto);
// "10.0.0.8:6443", "[fd00::8]:6443"
std::string endpoint(const IpAddr& ip, uint16_t port);

}  // namespace svctrace
