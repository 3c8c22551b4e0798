// The unit tests' fixture files (tests/unit/data: real `nft -j list ruleset` and iptables-save dumps,
// made by the make-*-fixtures.sh scripts beside them).
#pragma once
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

namespace test {

inline std::string fixture(const char* name) {
  std::ifstream in(std::string(SVCTRACE_TEST_DATA) + "/" + name);
  REQUIRE(in);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace test
