#include "diagnose/verdict.h"

namespace svctrace {

std::string_view name(Verdict v) {
  switch (v) {
    case Verdict::NoRouteBack: return "no_route_back";
    case Verdict::NoEndpoints: return "no_endpoints";
    case Verdict::ReplyInvalid: return "reply_invalid";
    case Verdict::DroppedHere: return "dropped_here";
    case Verdict::Unreachable: return "unreachable";
    case Verdict::Refused: return "refused";
    case Verdict::ReplyDropped: return "reply_dropped";
    case Verdict::AsymmetricSource: return "asymmetric_source";
    case Verdict::NotDnatted: return "not_dnatted";
    case Verdict::Unanswered: return "unanswered";
    case Verdict::Ok: return "ok";
    case Verdict::NoRoute: return "no_route";
  }
  return {};  // a value that is no member
}

std::optional<Verdict> parse_verdict(std::string_view s) {
  // The members are numbered from 0 without gaps: the first value name() does not know ends them.
  for (int i = 0; !name(static_cast<Verdict>(i)).empty(); ++i)
    if (s == name(static_cast<Verdict>(i))) return static_cast<Verdict>(i);
  return std::nullopt;
}

}  // namespace svctrace
