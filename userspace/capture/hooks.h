// The closed sets of svctrace's hooks: the roles a hook fills, and the choices --route-hook and
// --nat-hook force. Each set has one name table, name(), used for every text that shows a value
// (--help's choices, --hooks, the ready line, the report and recordings, the metrics' labels); the
// command line parses the same names back.
#pragma once
#include <array>
#include <cstddef>
#include <string_view>

namespace svctrace {

// What a hook is for (docs/kernels.md, "Hooks, by role").
enum class HookRole { route, route6, nat, drop, tcp };
// --route-hook: the best the kernel allows, or one forced.
enum class RouteHook { automatic, fexit, tp_btf, raw_tp };
// --nat-hook: the best the kernel allows, or one forced.
enum class NatHook { automatic, netfilter, fexit, net_dev_queue };

// What name() gives a value it has no case for (only an out-of-range cast can be one).
inline constexpr std::string_view kUnnamed = "?";

constexpr std::string_view name(HookRole role) {
  switch (role) {
    case HookRole::route: return "route";
    case HookRole::route6: return "route6";
    case HookRole::nat: return "nat";
    case HookRole::drop: return "drop";
    case HookRole::tcp: return "tcp";
  }
  return kUnnamed;
}

constexpr std::string_view name(RouteHook hook) {
  switch (hook) {
    case RouteHook::automatic: return "auto";
    case RouteHook::fexit: return "fexit";
    case RouteHook::tp_btf: return "tp_btf";
    case RouteHook::raw_tp: return "raw_tp";
  }
  return kUnnamed;
}

constexpr std::string_view name(NatHook hook) {
  switch (hook) {
    case NatHook::automatic: return "auto";
    case NatHook::netfilter: return "netfilter";
    case NatHook::fexit: return "fexit";
    case NatHook::net_dev_queue: return "net_dev_queue";
  }
  return kUnnamed;
}

// Every value of each set, in declaration order (the order --help lists them in).
inline constexpr std::array kHookRoles{HookRole::route, HookRole::route6, HookRole::nat, HookRole::drop,
                                       HookRole::tcp};
inline constexpr std::array kRouteHooks{RouteHook::automatic, RouteHook::fexit, RouteHook::tp_btf,
                                        RouteHook::raw_tp};
inline constexpr std::array kNatHooks{NatHook::automatic, NatHook::netfilter, NatHook::fexit,
                                      NatHook::net_dev_queue};

// Whether `all` lists every value of its enum in order: the i-th is value i, and name() has no case
// for the value after the last (a value added to the enum and to name() but not to `all` fails this;
// one added without a case in name() is a -Wswitch warning).
template <class E, std::size_t N>
constexpr bool lists_every_value(const std::array<E, N>& all) {
  for (std::size_t i = 0; i < N; i++)
    if (static_cast<std::size_t>(all[i]) != i) return false;
  return name(static_cast<E>(N)) == kUnnamed;
}
static_assert(lists_every_value(kHookRoles));
static_assert(lists_every_value(kRouteHooks));
static_assert(lists_every_value(kNatHooks));

}  // namespace svctrace
