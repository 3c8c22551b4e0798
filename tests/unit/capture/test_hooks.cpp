// The hook name tables: the names the command line, --hooks, the ready line, reports and metrics use.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "capture/hooks.h"

using namespace svctrace;

namespace {
template <class E, std::size_t N>
std::string joined(const std::array<E, N>& all) {
  std::string out;
  for (E v : all) out += std::string(out.empty() ? "" : ",") + std::string(name(v));
  return out;
}
template <class E, std::size_t N>
bool distinct_and_named(const std::array<E, N>& all) {
  std::set<std::string_view> seen;
  for (E v : all)
    if (name(v) == kUnnamed || !seen.insert(name(v)).second) return false;
  return true;
}
}  // namespace

TEST_CASE("hook names are the ones the command line and the outputs have always used") {
  // --route-hook's and --nat-hook's choices (tests/e2e/test_completion.sh), and the roles of the
  // ready line's hooks (recordings in tests/recordings).
  CHECK(joined(kRouteHooks) == "auto,fexit,tp_btf,raw_tp");
  CHECK(joined(kNatHooks) == "auto,netfilter,fexit,net_dev_queue");
  CHECK(joined(kHookRoles) == "route,route6,nat,drop,tcp");
}

TEST_CASE("every hook value has its own name") {
  CHECK(distinct_and_named(kRouteHooks));
  CHECK(distinct_and_named(kNatHooks));
  CHECK(distinct_and_named(kHookRoles));
  CHECK(name(static_cast<RouteHook>(kRouteHooks.size())) == kUnnamed);
}
