// The verdicts a diagnosis reaches (docs/verdicts.md), as a closed set: a switch over Verdict has no
// `default:`, so -Wswitch names every place a new verdict must be handled. name() is the one spelling
// of each, in JSON, metrics labels and the HTML report; parse_verdict() reads it back.
#pragma once
#include <optional>
#include <string_view>

namespace svctrace {

enum class Verdict {
  // A traced flow's, in the diagnosis' order of precedence.
  NoRouteBack,
  NoEndpoints,
  ReplyInvalid,
  DroppedHere,
  Unreachable,
  Refused,
  ReplyDropped,
  AsymmetricSource,
  NotDnatted,
  Unanswered,
  // `svctrace check`'s, for a service pair that would work or whose service IP has no route.
  Ok,
  NoRoute,
};

// "asymmetric_source", "no_route_back", ...; "" for a value that is no member.
std::string_view name(Verdict v);
// The verdict name(v) spells s, or nullopt for any other string.
std::optional<Verdict> parse_verdict(std::string_view s);

}  // namespace svctrace
