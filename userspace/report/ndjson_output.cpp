#include "report/ndjson_output.h"

#include "node/rules/nat_rules.h"

namespace svctrace {

using nlohmann::json;

void NdjsonOutput::start(const Start& s) {
  add(json_text({{"type", "ready"},
                 {"cidrs", s.cidrs},
                 {"netns", s.netns},
                 {"hooks", s.hooks},
                 {"refused", s.refused},
                 {"connect_programs", s.connect_programs}}));
}

void NdjsonOutput::replay(const std::string& file, const json& recorded) {
  add(json_text({{"type", "replay"}, {"file", file}, {"recorded", recorded}}));
}

void NdjsonOutput::change(const RoutingChange& c, double at_s) { add(json_text(change_json(c, at_s))); }

void NdjsonOutput::flow(const Flow& f, RoutingView& names) { add(flow_object(f, names, 0, "flow").text()); }

void NdjsonOutput::outcome(const Flow& f, RoutingView& names) { add(flow_object(f, names, 0, "outcome").text()); }

void NdjsonOutput::diagnosis(const Diagnosis&, const Grouped& g) { add(g.ndjson); }

void NdjsonOutput::stats(json stats) {
  stats["type"] = "stats";
  add(json_text(stats));
}

void NdjsonOutput::services(const json& rows) { add(json_text({{"type", "services"}, {"services", rows}})); }

void NdjsonOutput::summary(const Summary& s) {
  add(json_text({{"type", "summary"}, {"duration_s", s.duration_s}, {"by_state", s.by_state},
                 {"diagnoses", s.diagnoses}, {"services", s.services}, {"stats", s.stats}}));
}

void NdjsonOutput::note(const std::string& text) { add(json_text({{"type", "note"}, {"text", text}})); }

// The diagnosis the pair's connections would get, without what only traffic shows.
void NdjsonOutput::check(const ServicePair& p, const CheckResult& r) {
  json j = diagnosis_json(r.diagnosis);
  j["type"] = "check";
  j["ok"] = r.ok();
  j.update(service_pair_json(p));
  j["source"] = r.source.is_set() ? json(r.source.str()) : json(nullptr);
  // The node's rewrite of that source, and what the backend would see.
  j["source_nat"] = r.source_nat ? json{{"action", name(r.source_nat->action)}, {"to", r.seen_source.str()},
                                        {"rules", r.source_nat->rules}, {"chain", r.source_nat->chain}}
                                 : json(nullptr);
  j["seen_source"] = r.seen_source.is_set() ? json(r.seen_source.str()) : json(nullptr);
  for (const char* traffic_only : {"evidence", "pid", "comm", "flow", "dnat"}) j.erase(traffic_only);
  add(json_text(j));
}

}  // namespace svctrace
