// How flows and diagnoses are shown: NDJSON objects (the contract tests and scripts rely on), the
// human lines for a terminal, the report file, and Output, what a run prints to stdout through.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "correlate/correlator.h"
#include "diagnose/check.h"
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
// A route, rule or address change at_s seconds into the trace: its line, and the report's timeline entry.
nlohmann::json change_json(const RoutingChange& c, double at_s);

std::string human_flow(const Flow& f, RoutingView& names);     // a new flow
std::string human_outcome(const Flow& f);                      // answered / refused / abandoned
// The lines under a diagnosis that say what to run: the fix, the check, what the fix spares or why
// there is none, and how to keep it across reboots; "" when there is nothing to run.
std::string fix_lines(const Diagnosis& d);
std::string human_diagnosis(const Diagnosis& d);               // several lines, ends with the fix
// One row of the services' counts (session/service_stats.h), in one line: how many flows, how fast,
// how many answered and how soon.
std::string human_service_row(const nlohmann::json& row);

// JSON text of j. Strings from outside (a process's comm, set with prctl; interface names) need not
// be UTF-8: invalid bytes become U+FFFD instead of an exception that would end the trace.
std::string json_text(const nlohmann::json& j, int indent = -1);

// Writes to a temporary file beside `path`, then renames it over `path`: a reader sees the old
// report or the new one, never half of one. Throws std::runtime_error naming the path.
void write_file_atomically(const std::string& path, const std::string& content);

// What a run says on stdout, in one form: lines for a person (human_output.h) or NDJSON
// (ndjson_output.h); the command line picks one. The lines are kept until flush(), which writes them
// in one write (a flood decides thousands of flows per tick), or sooner once they fill kBuffer.
class Output {
 public:
  // The start of a trace: the CIDRs as given and as parsed, the namespace, the hooks at work.
  struct Start {
    std::vector<std::string> cidr_args;
    std::string netns_name;  // empty: svctrace's own namespace
    nlohmann::json cidrs, netns, hooks, refused;
    // Cgroup connect4/connect6 programs on the node (capture/socket_lb.h): with socket-level load
    // balancing, connects to a Service IP never show as packets to it. An array, maybe empty.
    nlohmann::json connect_programs = nlohmann::json::array();
    std::string connect_programs_text;  // the same for a person; empty when there are none
  };
  // A decided failure, with its place in its group (the same cause seen again).
  struct Grouped {
    const std::string& ndjson;  // the diagnosis' NDJSON object, with confidence, group and count
    int count = 1;              // diagnoses of its group so far, this one included
    bool first = true;          // the first of its group
  };
  // The end of a session.
  struct Summary {
    double duration_s = 0;
    std::map<std::string, int> by_state;
    uint64_t diagnoses = 0;
    nlohmann::json services;  // flows per service -> backend -> egress device
    nlohmann::json stats;
    size_t flows_in_report = 0;
    uint64_t events = 0, lost = 0, evicted = 0;
  };

  explicit Output(std::FILE* to = stdout) : to_(to) {}
  virtual ~Output() { flush(); }
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  // Called before each line is added (e.g. clears the status line); nothing when empty.
  void before_each_line(std::function<void()> f) { before_line_ = std::move(f); }

  virtual void start(const Start& s) = 0;
  virtual void replay(const std::string& file, const nlohmann::json& recorded) = 0;
  virtual void change(const RoutingChange& c, double at_s) = 0;      // route, rule or address change
  virtual void flow(const Flow& f, RoutingView& names) = 0;          // a new flow
  virtual void outcome(const Flow& f, RoutingView& names) = 0;       // answered, refused, abandoned
  virtual void diagnosis(const Diagnosis& d, const Grouped& g) = 0;  // an unanswered or refused flow
  virtual void stats(nlohmann::json stats) = 0;                      // the periodic counters
  // The periodic counts per service -> backend -> egress, worst first (session/service_stats.h).
  virtual void services(const nlohmann::json& rows) = 0;
  virtual void summary(const Summary& s) = 0;
  virtual void note(const std::string& text) = 0;  // what the user should know about the whole run
  virtual void check(const ServicePair& p, const CheckResult& r) = 0;  // `svctrace check`, one pair

  // Writes out the lines kept so far, in one write. Once a write fails (EPIPE: the reader of the pipe
  // left), nothing more is written: lines are dropped, and write_error() says why.
  void flush();
  // errno of the write that failed, or 0 while every write succeeded.
  int write_error() const { return write_error_; }

  static constexpr size_t kBuffer = 256 * 1024;

 protected:
  // Keeps text as it is, then a newline if it lacks one.
  void add(std::string_view text);

 private:
  std::FILE* to_;
  std::function<void()> before_line_;
  std::string out_;  // lines not yet written
  int write_error_ = 0;
};

}  // namespace svctrace
