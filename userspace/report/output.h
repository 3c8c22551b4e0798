// How flows and diagnoses are shown: NDJSON objects (the contract tests and scripts rely on), the
// human lines for a terminal, and the report file.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "correlate/correlator.h"
#include "diagnose/diagnosis.h"
#include "report/json_writer.h"
#include "node/route.h"

namespace svctrace {

// The objects of the NDJSON lines, written as text (json_writer.h): the *_json forms parse that text,
// for the report and for what edits a line before printing it.
JsonObject tuple_object(const FlowKey& k);
nlohmann::json tuple_json(const FlowKey& k);
// origin_ns (CLOCK_MONOTONIC, when tracing started), when given, adds `first_seen_s` against it; type,
// the line's "type" ("flow", "outcome").
JsonObject flow_object(const Flow& f, RoutingView& names, uint64_t origin_ns = 0, const char* type = nullptr);
nlohmann::json flow_json(const Flow& f, RoutingView& names, uint64_t origin_ns = 0);
JsonObject diagnosis_object(const Diagnosis& d);
nlohmann::json diagnosis_json(const Diagnosis& d);

std::string human_flow(const Flow& f, RoutingView& names);     // a new flow
std::string human_outcome(const Flow& f);                      // answered / refused / abandoned
std::string human_diagnosis(const Diagnosis& d);               // several lines, ends with the fix

// JSON text of j. Strings from outside (a process's comm, set with prctl; interface names) need not
// be UTF-8: invalid bytes become U+FFFD instead of an exception that would end the trace.
std::string json_text(const nlohmann::json& j, int indent = -1);

// Writes to a temporary file beside `path`, then renames it over `path`: a reader sees the old
// report or the new one, never half of one. Throws std::runtime_error naming the path.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace svctrace
