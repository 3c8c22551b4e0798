// --route-hook and --nat-hook: names parsed once into the enums, --help's choices, one-line errors.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "capture/hooks.h"
#include "cli/enum_choice.h"

using namespace svctrace;

namespace {
struct Parsed {
  RouteHook route = RouteHook::automatic;
  NatHook nat = NatHook::automatic;
  std::string error;  // the ParseError's text, if any
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  CLI::App app;
  app.add_option("--route-hook", p.route)->type_name("HOOK")->transform(enum_choice(kRouteHooks));
  app.add_option("--nat-hook", p.nat)->type_name("HOOK")->transform(enum_choice(kNatHooks));
  std::vector<const char*> argv{"svctrace"};
  for (const auto& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    p.error = e.what();
  }
  return p;
}
}  // namespace

TEST_CASE("hook names parse into their enum values") {
  CHECK(parse({}).route == RouteHook::automatic);
  for (RouteHook h : kRouteHooks) CHECK(parse({"--route-hook", std::string(name(h))}).route == h);
  for (NatHook h : kNatHooks) CHECK(parse({"--nat-hook", std::string(name(h))}).nat == h);
  CHECK(parse({"--route-hook=TP_BTF"}).route == RouteHook::tp_btf);
  CHECK(parse({"--nat-hook", "Net_Dev_Queue"}).nat == NatHook::net_dev_queue);
}

TEST_CASE("a hook name not in the set is one clear error") {
  CHECK(parse({"--route-hook", "kprobe"}).error == "--route-hook: kprobe not in {auto,fexit,tp_btf,raw_tp}");
  CHECK(parse({"--nat-hook", "nft"}).error == "--nat-hook: nft not in {auto,netfilter,fexit,net_dev_queue}");
  // The enum's numbers are not names.
  CHECK(parse({"--route-hook", "2"}).error == "--route-hook: 2 not in {auto,fexit,tp_btf,raw_tp}");
}

TEST_CASE("--help lists the hook names as {a,b,c}, which the bash completion offers") {
  CLI::App app;
  RouteHook route = RouteHook::automatic;
  app.add_option("--route-hook", route)->type_name("HOOK")->transform(enum_choice(kRouteHooks));
  CHECK(app.help().find("--route-hook HOOK:{auto,fexit,tp_btf,raw_tp}\n") != std::string::npos);
}
