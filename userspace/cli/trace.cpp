// The live trace: enters nothing itself (main did), attaches the tracer, and runs the loop that feeds
// the kernel's events and the routing changes to the session until a signal or --duration.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <ctime>

#include "capture/socket_lb.h"
#include "cli/commands.h"
#include "node/conntrack.h"
#include "node/live_node.h"
#include "node/netlink.h"
#include "node/netns.h"
#include "report/terminal.h"
#include "report/text.h"
#include "session/recording.h"
#include "session/session.h"

namespace svctrace::cli {

using nlohmann::json;

TracerOptions tracer_options(const Options& o, uint32_t netns_inode) {
  TracerOptions topts;
  topts.cidrs = o.cidrs;
  topts.netns_inode = netns_inode;
  topts.route_hook = o.route_hook;
  topts.nat_hook = o.nat_hook;
  topts.ringbuf_bytes = o.ringbuf_bytes;
  topts.max_flows = static_cast<uint32_t>(o.max_flows);
  topts.btf_file = o.btf_file;
  topts.all_flows = o.all_flows;
  topts.capture_packets = !o.pcap.empty();
  return topts;
}

namespace {

// The live table shows the worst services, as many as a terminal spares under the output.
constexpr size_t kLiveTableRows = 10;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t unix_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// One live session: started by start(), one pass of the loop per step(), ended by finish().
class MainLoop {
 public:
  MainLoop(const Options& o, uint32_t netns_inode, SvctraceMetrics* metrics, Output& out)
      : o_(o), netns_inode_(netns_inode), metrics_(metrics), out_(out) {}
  ~MainLoop() { out_.before_each_line(nullptr); }

  void start();
  bool step();  // false once --duration is over, the ring buffer cannot be read, or stdout is gone
  int finish();

 private:
  void attach();
  void describe_hooks();
  SessionOptions session_options();
  void start_recording(const SessionOptions& sopts, const DropReasonNames& drop_reasons);
  void announce();
  void add_existing_flows();
  void show_status(uint64_t now, const KernelCounters& counters);
  // Human output on a terminal: the services' table is redrawn under the status line, not printed.
  bool live_table() const { return !o_.json && status_.enabled() && isatty(STDOUT_FILENO); }
  bool trace_without_stdout();
  void explain_nothing_seen();
  bool traced_netns_over();
  void finish_recording(double elapsed, const json& config);
  json report_header(double elapsed) const;

  const Options& o_;
  const uint32_t netns_inode_;
  SvctraceMetrics* const metrics_;
  Output& out_;
  std::unique_ptr<LiveNode> node_;
  std::unique_ptr<NetlinkMonitor> monitor_;
  std::unique_ptr<Tracer> tracer_;
  std::unique_ptr<Session> session_;
  // While tracing, a status line on stderr when it is a terminal: what is going on, at a glance.
  StatusLine status_{isatty(STDERR_FILENO) != 0};
  // With --record, the session asks the node through a recorder, and feeds it everything it is fed.
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<RecordingNode> recording_node_;
  json hooks_ = json::array(), refused_ = json::array(), cidr_list_ = json::array(), netns_json_;
  SocketLbScan socket_lb_;  // connect programs on the node, which can hide every flow from the hooks
  uint64_t start_ns_ = 0, deadline_ = 0;
  std::string started_at_;
  uint64_t next_status_ = 0, status_at_ = 0, status_events_ = 0;
  bool runtime_error_ = false;
  bool stdout_lost_ = false;  // a write to stdout failed: nothing more is printed
  uint64_t next_netns_check_ = 0;
  uint64_t next_held_check_ = 0;
  void read_held_flows(uint64_t now, bool all);
  bool netns_name_gone_ = false;  // --netns no longer names the namespace traced (said once)
  bool netns_processes_said_ = false;
};

void MainLoop::attach() {
  try {
    node_ = std::make_unique<LiveNode>(o_.host_root);
    monitor_ = std::make_unique<NetlinkMonitor>();
    // Events arrive only from poll(), once the session exists.
    tracer_ = Tracer::start(
        tracer_options(o_, netns_inode_), [this](const svc_event& ev) { session_->on_event(ev); },
        [this](const svc_packet& p) { session_->on_packet(p); });
  } catch (const std::exception& e) {
    throw Failure(kExitRuntime, e.what());
  }
}

void MainLoop::describe_hooks() {
  for (const auto& h : tracer_->hooks()) {
    if (h.live) {
      hooks_.push_back({{"role", name(h.role)}, {"hook", h.name}});
      if (!h.note.empty()) hooks_.back()["note"] = h.note;
    } else {
      refused_.push_back({{"role", name(h.role)}, {"hook", h.name}, {"error", h.error}});
      spdlog::debug("{} hook {} refused by the kernel ({}); using a fallback", name(h.role), h.name, h.error);
    }
  }
  for (const auto& c : o_.cidrs) cidr_list_.push_back(c.str());
  netns_json_ = {{"name", o_.netns.empty() ? json(nullptr) : json(o_.netns)}, {"inode", netns_inode_}};
}

SessionOptions MainLoop::session_options() {
  SessionOptions sopts;
  if (metrics_) {
    metrics_->set_hooks(hooks_, refused_);
    sopts.on_diagnosis = [m = metrics_](const Flow& f, const Diagnosis& d) { m->on_diagnosis(f, d); };
    sopts.on_outcome = [m = metrics_](const Flow& f) { m->on_outcome(f); };
    sopts.on_counted = [m = metrics_](const CountedFlows& c) { m->on_counted(c); };
  }
  sopts.cidrs = o_.cidrs;
  struct stat init_ns {};
  sopts.host_netns = stat("/proc/1/ns/net", &init_ns) == 0 && init_ns.st_ino == netns_inode_;
  sopts.prove_fixes = true;
  sopts.start_ns = start_ns_ = monotonic_ns();
  sopts.stats_interval_ns = static_cast<uint64_t>(o_.stats_interval * 1e9);
  sopts.all_flows = o_.all_flows;
  sopts.unix_minus_monotonic_ns = unix_ns() - sopts.start_ns;
  if (!o_.pcap.empty()) sopts.pcap_max_packets = o_.pcap_max_packets;
  sopts.service_lines = o_.json || !live_table();
  sopts.correlator = {o_.max_flows, o_.unanswered_after_ms * 1'000'000ull, static_cast<uint32_t>(getpid())};
  return sopts;
}

void MainLoop::start_recording(const SessionOptions& sopts, const DropReasonNames& drop_reasons) {
  json names = json::object();
  for (const auto& [id, name] : drop_reasons) names[std::to_string(id)] = name;
  json header = {{"svctrace", SVCTRACE_VERSION},
                 {"started_at", utc_now()},
                 {"cidrs", cidr_list_},
                 {"netns", netns_json_},
                 {"hooks", hooks_},
                 {"refused_hooks", refused_},
                 {"host_netns", sopts.host_netns},
                 {"start_ns", sopts.start_ns},
                 {"unix_minus_monotonic_ns", sopts.unix_minus_monotonic_ns},
                 {"stats_interval_ns", sopts.stats_interval_ns},
                 {"max_flows", sopts.correlator.max_flows},
                 {"unanswered_after_ns", sopts.correlator.unanswered_after_ns},
                 {"self_pid", sopts.correlator.self_pid},
                 {"drop_reasons", names}};
  try {
    recorder_ = std::make_unique<Recorder>(o_.record, header);
  } catch (const std::exception& e) {
    throw Failure(kExitRuntime, e.what());
  }
  recording_node_ = std::make_unique<RecordingNode>(*node_, *recorder_);
}

// The ready line, then --ready-file: scripts that wait for the file find the line already written.
void MainLoop::announce() {
  json programs = json::array();
  for (const auto& p : socket_lb_.programs)
    programs.push_back({{"cgroup", p.cgroup}, {"attach", p.attach}, {"id", p.id}, {"name", p.name}});
  out_.start({o_.cidr_args, o_.netns, cidr_list_, netns_json_, hooks_, refused_, programs,
              connect_programs_text(socket_lb_.programs)});
  out_.flush();
  if (o_.ready_file.empty()) return;
  try {
    write_file_atomically(o_.ready_file, "ready\n");
  } catch (const std::exception& e) {
    // As spdlog::error said it before, now that Failure says every early end.
    throw Failure(kExitRuntime, std::string("error: --ready-file: ") + e.what());
  }
}

// Flows that were there before the hooks: after attaching, so that none falls between the two.
void MainLoop::add_existing_flows() {
  try {
    uint64_t now = monotonic_ns();
    for (const auto& e : existing_flows(o_.cidrs, netns_inode_)) session_->add_existing(e, now);
  } catch (const std::exception& e) {
    spdlog::warn("{}; flows opened before svctrace started are not known", e.what());
  }
}

void MainLoop::start() {
  attach();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  describe_hooks();
  socket_lb_ = find_connect_programs(cgroup2_mount());
  if (!socket_lb_.error.empty()) spdlog::debug("socket-level load balancing not checked: {}", socket_lb_.error);
  SessionOptions sopts = session_options();
  out_.before_each_line([this] { status_.clear(); });
  const DropReasonNames drop_reasons = load_drop_reason_names(o_.btf_file);
  if (!o_.record.empty()) start_recording(sopts, drop_reasons);
  Node& asked = recording_node_ ? static_cast<Node&>(*recording_node_) : *node_;
  session_ = std::make_unique<Session>(sopts, asked, drop_reasons, out_);
  session_->record_to(recorder_.get());
  announce();
  add_existing_flows();
  started_at_ = utc_now();
  deadline_ = o_.duration > 0 ? start_ns_ + static_cast<uint64_t>(o_.duration * 1e9) : 0;
  status_at_ = start_ns_;
}

bool MainLoop::step() {
  int n = tracer_->poll(100);
  if (n < 0 && n != -EINTR) {
    spdlog::error("reading the ring buffer failed: {}", std::strerror(-n));
    runtime_error_ = true;
    return false;
  }
  uint64_t now = monotonic_ns();
  if (now >= next_held_check_) read_held_flows(now, false);
  const KernelCounters counters = tracer_->counters();
  session_->on_changes(monitor_->changes(*node_));
  session_->tick(now, counters);
  if (metrics_ && metrics_->stats_due(now)) metrics_->set_stats(session_->stats(counters));
  if (status_.enabled() && now >= next_status_) show_status(now, counters);
  if (out_.write_error() && !stdout_lost_) {
    stdout_lost_ = true;
    if (!trace_without_stdout()) return false;
  }
  if (!o_.netns.empty() && now >= next_netns_check_) {
    next_netns_check_ = now + 1'000'000'000ull;
    if (traced_netns_over()) return false;
  }
  return !deadline_ || now < deadline_;
}

// Held flows (bpf/lib/held.bpf.h): the answered ones the kernel counted, and the records of those it
// held unanswered for half the time after which a flow is called unanswered, so that the correlator
// decides them on time (a TCP flow's retransmit, 1 s after its SYN, releases it sooner). all: every
// held flow, at the end.
void MainLoop::read_held_flows(uint64_t now, bool all) {
  next_held_check_ = now + 250'000'000ull;
  tracer_->release_stalled(now, all ? 0 : o_.unanswered_after_ms * 500'000ull);
  session_->on_counted(tracer_->counted_since_last(), now);
}

// --netns NAME deleted (`ip netns del`), or the process of a /proc/PID/ns/net path gone: svctrace, in
// the namespace, alone keeps it alive, and would trace it forever. Once its name is gone and no other
// process is left in it, nothing more can happen there: the trace ends as if stopped, with its report.
// While processes remain (the name alone was removed), it goes on.
bool MainLoop::traced_netns_over() {
  if (!netns_name_gone_) {
    NetnsName now = netns_name_now(o_.netns, netns_inode_);
    if (now == NetnsName::Same) return false;
    netns_name_gone_ = true;
    spdlog::warn("network namespace \"{}\" {}", o_.netns,
                 now == NetnsName::Gone ? "was deleted" : "now names another network namespace (the one traced was deleted)");
  }
  size_t others = other_processes_in_netns(netns_inode_);
  if (others) {
    if (!netns_processes_said_) spdlog::warn("{} still in the namespace traced: tracing goes on until the last leaves",
                                            counted(others, "process", "processes"));
    netns_processes_said_ = true;
    return false;
  }
  spdlog::warn("no process is left in the network namespace traced: nothing more can happen there; stopping");
  return true;
}

// stdout cannot be written (its reader left: `svctrace ... | tee log`, tee gone): nothing more is
// printed, said once. What else the trace makes (reports, recording, metrics) goes on until it is
// stopped as usual; with none of them there is nothing left to trace for, and it stops.
bool MainLoop::trace_without_stdout() {
  std::vector<std::string> kept;
  if (!o_.reports.empty()) kept.emplace_back("--report");
  if (recorder_) kept.emplace_back("--record");
  if (metrics_) kept.emplace_back("--metrics");
  if (kept.empty()) {
    spdlog::warn("{}: nothing more is printed; stopping, with nothing else to write", stdout_lost(out_.write_error()));
    return false;
  }
  spdlog::warn("{}: nothing more is printed; tracing goes on for {} until stopped", stdout_lost(out_.write_error()),
               fmt::join(kept, ", "));
  return true;
}

void MainLoop::show_status(uint64_t now, const KernelCounters& counters) {
  uint64_t events = session_->events();
  double rate = static_cast<double>(events - status_events_) / (static_cast<double>(now - status_at_) / 1e9);
  const size_t width = wrap_width(STDERR_FILENO);
  std::string lines = fit_width(fmt::format("svctrace {:.0f} s · {} · {:.0f} events/s · {} lost · {} live",
                                            static_cast<double>(now - start_ns_) / 1e9,
                                            counted(session_->flow_count(), "flow"), rate, counters.ringbuf_drops,
                                            counted(hooks_.size(), "hook")),
                                width);
  if (live_table())
    for (const auto& row : session_->services(now, kLiveTableRows)) lines += "\n" + fit_width(human_service_row(row), width);
  status_.show(lines);
  status_events_ = events;
  status_at_ = now;
  next_status_ = now + 500'000'000ull;
}

void MainLoop::finish_recording(double elapsed, const json& config) {
  try {
    recorder_->finish(elapsed, config);
    spdlog::info("recording written to {}", o_.record);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    runtime_error_ = true;
  }
}

json MainLoop::report_header(double elapsed) const {
  json h = {{"svctrace", SVCTRACE_VERSION}, {"started_at", started_at_}, {"duration_s", elapsed},
            {"cidrs", cidr_list_},          {"netns", netns_json_},      {"hooks", hooks_},
            {"refused_hooks", refused_}};
  if (!o_.pcap.empty()) h["pcap"] = o_.pcap;
  return h;
}

// Nothing to the CIDRs was seen: where connects are rewritten by cgroup BPF, that is why, and the
// backends are what to trace. Said only when it could be the reason, or could not be ruled out.
void MainLoop::explain_nothing_seen() {
  std::string cidrs = fmt::format("{}", fmt::join(o_.cidr_args, ", "));
  if (!socket_lb_.programs.empty())
    out_.note(fmt::format("nothing to {} was seen, and cgroup BPF programs rewrite connects on this node ({}): "
                          "with socket-level load balancing (Cilium's socket LB, kube-proxy replacements) a "
                          "connect to a Service IP goes straight to a backend, and no packet to the Service IP "
                          "exists. Trace the backends' addresses instead (e.g. --cidr with the pod CIDR).",
                          cidrs, connect_programs_text(socket_lb_.programs)));
  else if (!socket_lb_.error.empty())
    out_.note(fmt::format("nothing to {} was seen; whether cgroup BPF rewrites connects on this node "
                          "(socket-level load balancing) is unknown: {}",
                          cidrs, socket_lb_.error));
  out_.flush();
}

// What the kernel had already sent, then the tracer detached before reporting: nothing of svctrace
// stays in the kernel.
int MainLoop::finish() {
  status_.clear();
  tracer_->poll(0);
  read_held_flows(monotonic_ns(), true);
  const KernelCounters kernel = tracer_->counters();
  session_->tick(monotonic_ns(), kernel);
  tracer_.reset();
  double elapsed = static_cast<double>(monotonic_ns() - start_ns_) / 1e9;
  json found = session_->finish(elapsed, kernel);
  if (metrics_) metrics_->set_stats(found["stats"]);
  json config = node_->config_snapshot(o_.cidrs);
  // The files before the summary on stdout, which may fail or block.
  if (recorder_) finish_recording(elapsed, config);
  if (!o_.pcap.empty() && !write_at_exit(o_.pcap, [&] { return session_->pcap(); }, "packets")) runtime_error_ = true;
  if (!o_.reports.empty() && !write_reports(o_.reports, report_header(elapsed), found, config))
    runtime_error_ = true;
  // Before the summary, which stays the last line (scripts and the DaemonSet's logs rely on it).
  if (session_->events() == 0 && session_->counted() == 0) explain_nothing_seen();
  session_->summarize();
  if (runtime_error_) return kExitRuntime;
  return session_->diagnosed() ? kExitDiagnosed : kExitOk;
}

}  // namespace

int run_trace(const Options& o, uint32_t netns_inode, SvctraceMetrics* metrics, Output& out) {
  MainLoop loop(o, netns_inode, metrics, out);
  loop.start();
  while (!g_stop && loop.step()) {
  }
  return loop.finish();
}

}  // namespace svctrace::cli
