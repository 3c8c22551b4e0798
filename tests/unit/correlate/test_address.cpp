#include <catch2/catch.hpp>

#include "correlate/address.h"

using svctrace::Cidr;
using svctrace::CidrError;
using svctrace::IpAddr;

TEST_CASE("CIDRs parse, print and contain", "[cidr]") {
  Cidr c = Cidr::parse("172.24.0.0/13");
  CHECK(c.str() == "172.24.0.0/13");
  CHECK(c.contains(*IpAddr::parse("172.24.0.1")));
  CHECK(c.contains(*IpAddr::parse("172.31.255.255")));
  CHECK_FALSE(c.contains(*IpAddr::parse("172.32.0.0")));
  CHECK_FALSE(c.contains(*IpAddr::parse("172.23.255.255")));
  CHECK(Cidr::parse("10.96.0.10").str() == "10.96.0.10/32");
  CHECK(Cidr::parse("0.0.0.0/0").contains(*IpAddr::parse("8.8.8.8")));
}

TEST_CASE("IPv6 CIDRs parse and contain only IPv6 addresses", "[cidr]") {
  Cidr c = Cidr::parse("fd00:10:96::/112");
  CHECK(c.str() == "fd00:10:96::/112");
  CHECK(c.contains(*IpAddr::parse("fd00:10:96::1")));
  CHECK(c.contains(*IpAddr::parse("fd00:10:96::ffff")));
  CHECK_FALSE(c.contains(*IpAddr::parse("fd00:10:96::1:0")));
  CHECK_FALSE(Cidr::parse("::/0").contains(*IpAddr::parse("10.0.0.1")));
  CHECK_FALSE(Cidr::parse("0.0.0.0/0").contains(*IpAddr::parse("::1")));
}

TEST_CASE("bad CIDRs are rejected with a message that helps", "[cidr]") {
  auto message = [](const char* text) {
    try {
      Cidr::parse(text);
    } catch (const CidrError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message("") == "empty CIDR: expected a prefix such as 172.24.0.0/13");
  CHECK(message("172.24.0.1/13") == "invalid CIDR \"172.24.0.1/13\": host bits set; did you mean 172.24.0.0/13?");
  CHECK(message("172.24.0.0/33") == "invalid CIDR \"172.24.0.0/33\": prefix length must be 0..32");
  CHECK(message("172.24.0.0/") == "invalid CIDR \"172.24.0.0/\": prefix length must be 0..32");
  CHECK(message("172.24.0.0/1x") == "invalid CIDR \"172.24.0.0/1x\": prefix length must be 0..32");
  CHECK(message("300.1.1.1/8") == "invalid CIDR \"300.1.1.1/8\": \"300.1.1.1\" is not an IP address");
  CHECK(message("kubernetes") == "invalid CIDR \"kubernetes\": \"kubernetes\" is not an IP address");
  CHECK(message("fd00:10:96::1/112") == "invalid CIDR \"fd00:10:96::1/112\": host bits set; did you mean fd00:10:96::/112?");
  CHECK(message("fd00::/129") == "invalid CIDR \"fd00::/129\": prefix length must be 0..128");
  CHECK(message("172.24.0.0/13/1") == "invalid CIDR \"172.24.0.0/13/1\": prefix length must be 0..32");
}

// Found by fuzz/fuzz_cidr.
TEST_CASE("whatever the text, a refusal is one line and an accepted CIDR is what it says", "[cidr]") {
  auto message = [](std::string_view text) {
    try {
      Cidr::parse(text);
    } catch (const CidrError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message("172.24.0.0\n/13") == R"(invalid CIDR "172.24.0.0\n/13": "172.24.0.0\n" is not an IP address)");
  CHECK(message("10.0.0.0/8\x01") == R"(invalid CIDR "10.0.0.0/8\x01": prefix length must be 0..32)");
  CHECK(message("\"a\\b\"") == R"(invalid CIDR "\"a\\b\"": "\"a\\b\"" is not an IP address)");
  // inet_pton() reads up to a NUL: the text after it must not be ignored.
  CHECK(message(std::string_view("172.24.0.0\0/13", 14)) ==
        R"(invalid CIDR "172.24.0.0\x00/13": "172.24.0.0\x00" is not an IP address)");
}
