// svctrace: the command line. Parses options, enters the traced namespace, starts the tracer, and
// runs the loop that feeds events to the correlator and prints flows, verdicts and diagnoses.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "capture/tracer.h"
#include "diagnose/check.h"
#include "node/conntrack.h"
#include "correlate/correlator.h"
#include "diagnose/diagnosis.h"
#include "node/netlink.h"
#include "node/netns.h"
#include "node/rules/service_pair.h"
#include "report/output.h"
#include "node/live_node.h"
#include "report/metrics.h"
#include "node/rules/nat_rules.h"
#include "node/network_management.h"
#include "session/recording.h"
#include "report/html_report.h"
#include "session/session.h"
#include "report/terminal.h"

using namespace svctrace;
using nlohmann::json;

namespace {

// Exit codes (documented in the README and --help).
constexpr int kExitOk = 0;         // traced, nothing wrong found
constexpr int kExitRuntime = 1;    // could not trace (privileges, kernel, netlink...)
constexpr int kExitUsage = 2;      // bad command line
constexpr int kExitDiagnosed = 3;  // traced, and at least one flow was diagnosed

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct Options {
  std::vector<std::string> cidr_args;
  std::string netns;
  bool json = false;
  std::vector<std::string> reports;
  std::string ready_file;
  bool list_hooks = false;
  double duration = 0;
  int verbose = 0;
  std::string route_hook = "auto";
  std::string nat_hook = "auto";
  uint32_t ringbuf_bytes = 4u << 20;
  double stats_interval = 10;
  unsigned unanswered_after_ms = 1500;
  size_t max_flows = 65536;
  std::string record;
  std::string color = "auto";
  std::string metrics;
};

// Fails early, before tracing, if the report (or recording) could not be written at exit.
void check_output_path(const std::string& flag, const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw CLI::ValidationError(flag, fmt::format("directory {} does not exist", dir.string()));
  if (access(dir.c_str(), W_OK) != 0)
    throw CLI::ValidationError(flag, fmt::format("directory {} is not writable", dir.string()));
}

// `svctrace check`; returns true when every pair would work.
bool run_check(const std::vector<Cidr>& cidrs, RoutingView& routing, const std::string& rules_file,
               const std::string& nft_file, bool as_json) {
  auto pairs = service_pairs(read_nat_rules(rules_file, nft_file, spdlog::level::info), cidrs);
  if (pairs.empty()) spdlog::warn("no DNAT rule on an address of the CIDRs was found: nothing to check");
  bool all_ok = true;
  for (const auto& p : pairs) {
    CheckResult r = check_pair(p, routing, cidrs);
    all_ok &= r.ok();
    uint16_t backend_port = p.backend_port ? p.backend_port : p.service_port;
    const Diagnosis& d = r.diagnosis;
    if (as_json) {
      json j = diagnosis_json(d);
      j["type"] = "check";
      j["ok"] = r.ok();
      j.update(service_pair_json(p));
      j["source"] = r.source.is_set() ? json(r.source.str()) : json(nullptr);
      for (const char* traffic_only : {"evidence", "pid", "comm", "flow", "dnat"}) j.erase(traffic_only);
      print_line(j);
      continue;
    }
    std::string pair_text = fmt::format("{} {}:{} → {}:{} ({})", proto_name(p.proto), p.service_ip.str(),
                                        p.service_port, p.backend_ip.str(), backend_port, found_in_text(p));
    if (r.ok()) {
      fmt::print("✓ {}: source {} out {}\n", pair_text, r.source.str(), d.egress_dev);
    } else if (d.verdict == Verdict::NoRoute) {
      fmt::print("✗ {}: {}\n", pair_text, d.reason);
    } else {
      fmt::print("✗ {}: source {} chosen by route \"{}\" (table {}), but {} is reached via {}, whose address is {}\n",
                 pair_text, r.source.str(), d.source_route ? format_route(*d.source_route) : "?",
                 d.source_route ? table_name(d.source_route->table) : "?", p.backend_ip.str(), d.egress_dev,
                 d.expected_source.str());
      if (!d.fix.empty()) fmt::print("  fix: {}\n", d.fix);
    }
  }
  return all_ok;
}

ColorMode color_mode(const std::string& when) {
  return when == "always" ? ColorMode::Always : when == "never" ? ColorMode::Never : ColorMode::Auto;
}

// Writes each report (JSON, or the HTML page for a .html path): what the session found, with what it
// was traced with.
bool write_reports(const std::vector<std::string>& paths, const json& header, const json& found, const json& config) {
  json report = header;
  for (const char* key : {"flows", "diagnoses", "timeline", "stats"}) report[key] = found[key];
  report["config"] = config;
  try {
    for (const auto& path : paths) {
      write_file_atomically(path, render_report(path, report));
      spdlog::info("report written to {}", path);
    }
    return true;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return false;
  }
}

// Traces until a signal or --duration: the live session.
int run_trace(const Options& o, const std::vector<Cidr>& cidrs, uint32_t netns_inode, SvctraceMetrics* metrics) {
  std::unique_ptr<LiveNode> node;
  std::unique_ptr<NetlinkMonitor> monitor;
  std::unique_ptr<Tracer> tracer;
  std::unique_ptr<Session> session;
  try {
    node = std::make_unique<LiveNode>();
    monitor = std::make_unique<NetlinkMonitor>();
    TracerOptions topts;
    topts.cidrs = cidrs;
    topts.netns_inode = netns_inode;
    topts.route_hook = o.route_hook;
    topts.nat_hook = o.nat_hook;
    topts.ringbuf_bytes = o.ringbuf_bytes;
    topts.max_flows = static_cast<uint32_t>(o.max_flows);
    // Events arrive only from poll(), once the session exists.
    tracer = Tracer::start(topts, [&](const svc_event& ev) { session->on_event(ev); });
  } catch (const std::exception& e) {
    fmt::print(stderr, "svctrace: {}\n", e.what());
    return kExitRuntime;
  }

  if (o.list_hooks) {
    for (const auto& h : tracer->hooks())
      fmt::print("{:<7} {:<40} {}\n", h.role, h.name, h.live ? "live" : "refused: " + h.error);
    return kExitOk;
  }
  if (!tracer->replies_seen())
    spdlog::warn("with the {} NAT hook replies are not seen: UDP and forwarded flows can only be called unanswered",
                 o.nat_hook);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  json hooks = json::array(), refused = json::array();
  for (const auto& h : tracer->hooks()) {
    if (h.live) {
      hooks.push_back({{"role", h.role}, {"hook", h.name}});
    } else {
      refused.push_back({{"role", h.role}, {"hook", h.name}, {"error", h.error}});
      spdlog::debug("{} hook {} refused by the kernel ({}); using a fallback", h.role, h.name, h.error);
    }
  }
  json cidr_list = json::array();
  for (const auto& c : cidrs) cidr_list.push_back(c.str());
  json netns_json = {{"name", o.netns.empty() ? json(nullptr) : json(o.netns)}, {"inode", netns_inode}};

  SessionOptions sopts;
  if (metrics) {
    metrics->set_hooks(hooks, refused);
    sopts.on_diagnosis = [metrics](const Flow& f, const Diagnosis& d) { metrics->on_diagnosis(f, d); };
    sopts.on_outcome = [metrics](const Flow& f) { metrics->on_outcome(f); };
  }
  sopts.cidrs = cidrs;
  sopts.json = o.json;
  sopts.color = !o.json && use_color(color_mode(o.color), STDOUT_FILENO);
  // While tracing, a status line on stderr when it is a terminal: what is going on, at a glance.
  StatusLine status(isatty(STDERR_FILENO) != 0);
  sopts.before_output = [&status] { status.clear(); };
  struct stat init_ns {};
  sopts.host_netns = stat("/proc/1/ns/net", &init_ns) == 0 && init_ns.st_ino == netns_inode;
  sopts.start_ns = monotonic_ns();
  sopts.stats_interval_ns = static_cast<uint64_t>(o.stats_interval * 1e9);
  sopts.correlator = {o.max_flows, o.unanswered_after_ms * 1'000'000ull, static_cast<uint32_t>(getpid())};
  const DropReasonNames drop_reasons = load_drop_reason_names();

  // With --record, the session asks the node through a recorder, and feeds it everything it is fed.
  std::unique_ptr<Recorder> recorder;
  std::unique_ptr<RecordingNode> recording_node;
  if (!o.record.empty()) {
    json names = json::object();
    for (const auto& [id, name] : drop_reasons) names[std::to_string(id)] = name;
    json header = {{"svctrace", SVCTRACE_VERSION},
                   {"started_at", utc_now()},
                   {"cidrs", cidr_list},
                   {"netns", netns_json},
                   {"hooks", hooks},
                   {"refused_hooks", refused},
                   {"host_netns", sopts.host_netns},
                   {"start_ns", sopts.start_ns},
                   {"stats_interval_ns", sopts.stats_interval_ns},
                   {"max_flows", sopts.correlator.max_flows},
                   {"unanswered_after_ns", sopts.correlator.unanswered_after_ns},
                   {"self_pid", sopts.correlator.self_pid},
                   {"drop_reasons", names}};
    try {
      recorder = std::make_unique<Recorder>(o.record, header);
    } catch (const std::exception& e) {
      fmt::print(stderr, "svctrace: {}\n", e.what());
      return kExitRuntime;
    }
    recording_node = std::make_unique<RecordingNode>(*node, *recorder);
  }
  Node& asked = recording_node ? static_cast<Node&>(*recording_node) : *node;
  session = std::make_unique<Session>(sopts, asked, drop_reasons);
  session->record_to(recorder.get());

  if (o.json)
    print_line({{"type", "ready"}, {"cidrs", cidr_list}, {"netns", netns_json}, {"hooks", hooks}, {"refused", refused}});
  else
    fmt::print("svctrace: tracing {} in {} ({} hooks); Ctrl-C stops\n",
               fmt::join(o.cidr_args, ", "), o.netns.empty() ? "this network namespace" : "netns " + o.netns,
               hooks.size());

  if (!o.ready_file.empty()) {
    try {
      write_file_atomically(o.ready_file, "ready\n");
    } catch (const std::exception& e) {
      spdlog::error("--ready-file: {}", e.what());
      return kExitRuntime;
    }
  }

  // Flows that were there before the hooks: after attaching, so that none falls between the two.
  try {
    uint64_t now = monotonic_ns();
    for (const auto& e : existing_flows(cidrs, netns_inode)) session->add_existing(e, now);
  } catch (const std::exception& e) {
    spdlog::warn("{}; flows opened before svctrace started are not known", e.what());
  }

  const std::string started_at = utc_now();
  const uint64_t deadline = o.duration > 0 ? sopts.start_ns + static_cast<uint64_t>(o.duration * 1e9) : 0;
  int runtime_error = 0;
  uint64_t next_status = 0, status_at = sopts.start_ns, status_events = 0;
  while (!g_stop) {
    int n = tracer->poll(100);
    if (n < 0 && n != -EINTR) {
      spdlog::error("reading the ring buffer failed: {}", std::strerror(-n));
      runtime_error = 1;
      break;
    }
    uint64_t now = monotonic_ns();
    const KernelCounters counters = tracer->counters();
    session->on_changes(monitor->changes(*node));
    session->tick(now, counters);
    if (metrics && metrics->stats_due(now)) metrics->set_stats(session->stats(counters));
    if (status.enabled() && now >= next_status) {
      uint64_t events = session->events();
      double rate = static_cast<double>(events - status_events) / (static_cast<double>(now - status_at) / 1e9);
      status.show(fmt::format("svctrace {:.0f} s · {} flows · {:.0f} events/s · {} lost · {} hooks live",
                              static_cast<double>(now - sopts.start_ns) / 1e9, session->flow_count(), rate,
                              counters.ringbuf_drops, hooks.size()));
      status_events = events;
      status_at = now;
      next_status = now + 500'000'000ull;
    }
    if (deadline && now >= deadline) break;
  }
  status.clear();
  tracer->poll(0);  // what the kernel had already sent
  const KernelCounters kernel = tracer->counters();
  session->tick(monotonic_ns(), kernel);
  tracer.reset();  // detach before reporting: nothing of svctrace stays in the kernel

  double elapsed = static_cast<double>(monotonic_ns() - sopts.start_ns) / 1e9;
  json found = session->finish(elapsed, kernel);
  if (metrics) metrics->set_stats(found["stats"]);
  json config = node->config_snapshot(cidrs);
  if (recorder) {
    try {
      recorder->finish(elapsed, config);
      spdlog::info("recording written to {}", o.record);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      runtime_error = 1;
    }
  }
  if (!o.reports.empty()) {
    json header = {{"svctrace", SVCTRACE_VERSION}, {"started_at", started_at}, {"duration_s", elapsed},
                   {"cidrs", cidr_list},           {"netns", netns_json},      {"hooks", hooks},
                   {"refused_hooks", refused}};
    if (!write_reports(o.reports, header, found, config)) runtime_error = 1;
  }
  if (runtime_error) return kExitRuntime;
  return session->diagnosed() ? kExitDiagnosed : kExitOk;
}

// `svctrace replay FILE`: a recorded session, run again offline.
int run_replay(const Options& o, const std::string& file) {
  try {
    Recording rec = read_recording(file);
    ReplayNode node(rec.answers);
    SessionOptions sopts = session_options(rec, o.json);
    sopts.color = !o.json && use_color(color_mode(o.color), STDOUT_FILENO);
    Session session(sopts, node, drop_reason_names(rec));
    if (o.json) print_line({{"type", "replay"}, {"file", file}, {"recorded", rec.header}});
    if (rec.end.is_null()) spdlog::warn("{} was cut short: flows after its last line are not in it", file);
    KernelCounters kernel = replay(rec, session);
    double elapsed = rec.end.is_null() ? 0.0 : rec.end.value("elapsed_s", 0.0);
    json found = session.finish(elapsed, kernel);
    if (node.unanswered())
      spdlog::warn("{} questions of the diagnosis had no recorded answer: those verdicts may differ",
                   node.unanswered());
    if (!o.reports.empty()) {
      const json& h = rec.header;
      json header = {{"svctrace", SVCTRACE_VERSION},
                     {"replayed_from", file},
                     {"recorded_by", h.value("svctrace", "")},
                     {"started_at", h.value("started_at", "")},
                     {"duration_s", elapsed},
                     {"cidrs", h.at("cidrs")},
                     {"netns", h.value("netns", json(nullptr))},
                     {"hooks", h.value("hooks", json::array())},
                     {"refused_hooks", h.value("refused_hooks", json::array())}};
      json config = rec.end.is_null() ? json(nullptr) : rec.end.value("config", json(nullptr));
      if (!write_reports(o.reports, header, found, config)) return kExitRuntime;
    }
    return session.diagnosed() ? kExitDiagnosed : kExitOk;
  } catch (const RecordingError& e) {
    fmt::print(stderr, "svctrace: replay: {}\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    fmt::print(stderr, "svctrace: replay: {}\n", e.what());
    return kExitRuntime;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "svctrace: catches connections to Kubernetes Service IPs that get no answer, and says why.\n"
      "It records, per flow to a service CIDR, the source the kernel chose, the route that chose it,\n"
      "the DNAT target and the real egress device, and names the route to fix when they disagree.",
      "svctrace"};
  app.footer(
      "Examples:\n"
      "  svctrace --cidr 10.96.0.0/12\n"
      "      Trace connections to the Service CIDR from this network namespace until Ctrl-C: a line per\n"
      "      new flow and, for each unanswered one, the route that chose its source and the fix.\n"
      "  svctrace --cidr 10.96.0.0/12 --netns cni-5d1f --json --report /tmp/flows.json --duration 60\n"
      "      One minute inside the network namespace `ip netns` calls cni-5d1f, NDJSON on stdout, and a\n"
      "      report to hand over.\n"
      "  svctrace --cidr 10.96.0.0/12 --hooks\n"
      "      Can this kernel, with these privileges, trace? Print the hooks and exit.\n"
      "  svctrace check --cidr 10.96.0.0/12\n"
      "      No traffic needed: read the NAT rules and name the Service IPs whose connections would fail.\n"
      "\n"
      "Privileges:\n"
      "  root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (plus CAP_SYS_ADMIN for --netns); the error\n"
      "  names a missing one. Linux 6.4 or later with BTF (/sys/kernel/btf/vmlinux).\n"
      "\n"
      "Exit status:\n"
      "  0   traced, nothing wrong found\n"
      "  1   runtime error (privileges, kernel, netlink, a --metrics address that cannot be bound)\n"
      "  2   usage error (one line on stderr says what)\n"
      "  3   a diagnosis was made: a flow failed (check: a service would fail)");
  app.set_version_flag("--version", std::string("svctrace ") + SVCTRACE_VERSION);
  app.add_option("--cidr", o.cidr_args, "Service CIDR to trace (repeatable), e.g. 172.24.0.0/13; required")
      ->type_name("CIDR");
  app.add_option("--netns", o.netns, "Trace inside this network namespace: a name from `ip netns` or a path")
      ->type_name("NAME|PATH");
  app.add_flag("--json", o.json, "Write NDJSON to stdout (one object per line, each with \"type\")");
  app.add_option("--report", o.reports,
                 "Write the report to FILE at exit (atomically): an HTML page if FILE\n"
                 "ends in .html, JSON otherwise; repeat for both")
      ->type_name("FILE")
      ->allow_extra_args(false);
  app.add_flag("--hooks", o.list_hooks,
               "Load and attach, print which hook serves each role and why others were refused, exit");
  app.add_option("--ready-file", o.ready_file, "Create FILE once every hook is attached (for scripts)")
      ->type_name("FILE");
  app.add_option("--duration", o.duration, "Stop after SEC seconds (default: until Ctrl-C/SIGTERM)")
      ->type_name("SEC")
      ->check(CLI::PositiveNumber);
  app.add_option("--route-hook", o.route_hook, "Route hook: auto (best the kernel allows), fexit, tp_btf, raw_tp")
      ->type_name("HOOK")
      ->check(CLI::IsMember({"auto", "fexit", "tp_btf", "raw_tp"}));
  app.add_option("--nat-hook", o.nat_hook,
                 "NAT hook: auto, netfilter (6.4+), net_dev_queue (older kernels; replies unseen)")
      ->type_name("HOOK")
      ->check(CLI::IsMember({"auto", "netfilter", "net_dev_queue"}));
  app.add_option("--ringbuf-size", o.ringbuf_bytes, "BPF ring buffer size in bytes, a power of two (default 4 MiB)")
      ->type_name("BYTES")
      ->check(CLI::Validator(
          [](std::string& v) {
            unsigned long n = std::stoul(v);
            return (n >= 4096 && (n & (n - 1)) == 0 && n <= (1ul << 30)) ? std::string{}
                                                                         : "must be a power of two, 4096..1 GiB";
          },
          "POW2"));
  app.add_option("--stats-interval", o.stats_interval, "With --json, a stats line every SEC seconds (default 10)")
      ->type_name("SEC")
      ->check(CLI::PositiveNumber);
  app.add_option("--unanswered-after", o.unanswered_after_ms,
                 "Call a flow unanswered after MS milliseconds without reply, if no SYN\n"
                 "retransmit said so earlier (default 1500)")
      ->type_name("MS")
      ->check(CLI::Range(10u, 600000u));
  app.add_option("--max-flows", o.max_flows, "Flows kept in memory; the oldest are evicted (default 65536)")
      ->type_name("N")
      ->check(CLI::Range(size_t{16}, size_t{1} << 24));
  app.add_option("--record", o.record,
                 "Save the raw events, with what svctrace asked the node, to FILE at exit, for\n"
                 "`svctrace replay FILE` elsewhere (written atomically)")
      ->type_name("FILE");
  app.add_option("--metrics", o.metrics,
                 "Serve Prometheus metrics at http://ADDR:PORT/metrics while tracing, e.g.\n"
                 "127.0.0.1:9100 or [::1]:9100; bound in the namespace svctrace started in,\n"
                 "not the --netns one")
      ->type_name("ADDR:PORT")
      ->check(CLI::Validator(listen_address_error, ""));
  app.add_option("--color", o.color, "Colour the human output: auto (when stdout is a terminal and NO_COLOR\n"
                 "is unset), always, never")
      ->type_name("WHEN")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("-v,--verbose", o.verbose, "More logs on stderr (-vv: libbpf's too)");

  std::string rules_file, nft_file;
  CLI::App* check_cmd = app.add_subcommand(
      "check",
      "Before an outage, without traffic: for each service IP -> endpoint pair in the namespace's NAT rules\n"
      "(iptables-save and nft -j list ruleset), say whether its connections would leave with a source their\n"
      "egress device does not own. Exit 3 when any would, so it can gate node bootstrap.");
  check_cmd->fallthrough();
  check_cmd
      ->add_option("--iptables-save", rules_file, "Read the rules from FILE (iptables-save output), not the namespace's")
      ->type_name("FILE")
      ->check(CLI::ExistingFile.description(""))
      ->check(CLI::Validator([](std::string& f) { return iptables_save_file_error(f); }, ""));
  check_cmd
      ->add_option("--nft-json", nft_file, "Read the rules from FILE (nft -j list ruleset output), not the namespace's")
      ->type_name("FILE")
      ->check(CLI::ExistingFile.description(""))
      ->check(CLI::Validator([](std::string& f) { return nft_json_file_error(f); }, ""));

  std::string replay_file;
  CLI::App* replay_cmd = app.add_subcommand(
      "replay",
      "Run a recording made with --record through the same correlator and diagnosis, offline, and print\n"
      "the same verdicts: a capture someone who was not there can examine. Takes --json and --report.");
  replay_cmd->fallthrough();
  replay_cmd->add_option("FILE", replay_file, "The recording")
      ->required()
      ->check(CLI::ExistingFile.description(""));

  std::vector<Cidr> cidrs;
  try {
    app.parse(argc, argv);
    if (o.cidr_args.empty() && !replay_cmd->parsed()) throw CLI::RequiredError("--cidr");
    for (const auto& a : o.cidr_args) cidrs.push_back(Cidr::parse(a));
    for (const auto& path : o.reports) check_output_path("--report", path);
    if (!o.record.empty()) check_output_path("--record", o.record);
    if (!o.metrics.empty() && (check_cmd->parsed() || replay_cmd->parsed() || o.list_hooks))
      throw CLI::ValidationError("--metrics", "serves metrics while tracing, not with check, replay or --hooks");
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "svctrace: {}\n", e.what());
    return kExitUsage;
  } catch (const CidrError& e) {
    fmt::print(stderr, "svctrace: --cidr: {}\n", e.what());
    return kExitUsage;
  }

  auto log = spdlog::stderr_color_mt("svctrace");
  spdlog::set_default_logger(log);
  spdlog::set_pattern("svctrace: %^%l%$: %v");
  spdlog::set_level(o.verbose >= 2 ? spdlog::level::trace : o.verbose ? spdlog::level::debug : spdlog::level::info);
  route_libbpf_log_to_spdlog();
  setvbuf(stdout, nullptr, _IOLBF, 0);

  if (replay_cmd->parsed()) return run_replay(o, replay_file);

  // Bound before --netns moves svctrace: it listens in the namespace svctrace was started in, where
  // the node's scraper is, and before the ready line.
  std::unique_ptr<SvctraceMetrics> metrics;
  try {
    if (!o.metrics.empty()) metrics = SvctraceMetrics::serve(parse_listen_address(o.metrics), SVCTRACE_VERSION);
  } catch (const MetricsError& e) {
    fmt::print(stderr, "svctrace: --metrics: {}\n", e.what());
    return kExitRuntime;
  }

  uint32_t netns_inode = 0;
  try {
    netns_inode = o.netns.empty() ? current_netns_inode() : enter_netns(o.netns);
  } catch (const NetnsError& e) {
    fmt::print(stderr, "svctrace: --netns: {}\n", e.what());
    return e.usage ? kExitUsage : kExitRuntime;
  }

  if (check_cmd->parsed()) {
    try {
      NetlinkRouting routing;
      return run_check(cidrs, routing, rules_file, nft_file, o.json) ? kExitOk : kExitDiagnosed;
    } catch (const std::exception& e) {
      fmt::print(stderr, "svctrace: check: {}\n", e.what());
      return kExitRuntime;
    }
  }
  return run_trace(o, cidrs, netns_inode, metrics.get());
}
