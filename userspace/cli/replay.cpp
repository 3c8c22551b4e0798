// `svctrace replay FILE`: a recorded session, run again offline through the same correlator and
// diagnosis.
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "report/text.h"
#include "session/recording.h"
#include "session/session.h"

namespace svctrace::cli {

namespace {

using nlohmann::json;

// The report's header: the recording's, and that it was replayed.
json replay_header(const std::string& file, const Recording& rec, double elapsed) {
  const json& h = rec.header;
  return {{"svctrace", SVCTRACE_VERSION},
          {"replayed_from", file},
          {"recorded_by", h.value("svctrace", "")},
          {"started_at", h.value("started_at", "")},
          {"duration_s", elapsed},
          {"cidrs", h.at("cidrs")},
          {"netns", h.value("netns", json(nullptr))},
          {"hooks", h.value("hooks", json::array())},
          {"refused_hooks", h.value("refused_hooks", json::array())}};
}

int replay_file(const Options& o, Output& out) {
  const std::string& file = o.replay_file;
  Recording rec = read_recording(file);
  ReplayNode node(rec.answers);
  SessionOptions sopts = session_options(rec);
  sopts.all_flows = o.all_flows;
  if (!o.pcap.empty()) sopts.pcap_max_packets = o.pcap_max_packets;
  Session session(sopts, node, drop_reason_names(rec), out);
  out.replay(file, rec.header);
  out.flush();
  if (rec.torn_last_line) spdlog::warn("{}: its last line was cut mid-write and is left out", file);
  if (rec.end.is_null()) spdlog::warn("{} was cut short: flows after its last line are not in it", file);
  KernelCounters kernel = replay(rec, session);
  double elapsed = rec.end.is_null() ? 0.0 : rec.end.value("elapsed_s", 0.0);
  json found = session.finish(elapsed, kernel);
  if (node.unanswered())
    spdlog::warn("{} of the diagnosis had no recorded answer: those verdicts may differ",
                 counted(node.unanswered(), "question"));
  bool reports_written = o.pcap.empty() || write_at_exit(o.pcap, [&] { return session.pcap(); }, "packets");
  if (!o.reports.empty()) {
    json config = rec.end.is_null() ? json(nullptr) : rec.end.value("config", json(nullptr));
    json header = replay_header(file, rec, elapsed);
    if (!o.pcap.empty()) header["pcap"] = o.pcap;
    reports_written = write_reports(o.reports, header, found, config) && reports_written;
  }
  session.summarize();  // after the reports: a stdout that fails or blocks cannot cost them
  warn_if_stdout_lost(out);
  if (!reports_written) return kExitRuntime;
  return session.diagnosed() ? kExitDiagnosed : kExitOk;
}

}  // namespace

int run_replay(const Options& o, Output& out) {
  try {
    return replay_file(o, out);
  } catch (const RecordingError& e) {
    throw Failure(kExitUsage, std::string("replay: ") + e.what());
  } catch (const std::exception& e) {
    throw Failure(kExitRuntime, std::string("replay: ") + e.what());
  }
}

}  // namespace svctrace::cli
