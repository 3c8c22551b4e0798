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

#include "loader.h"
#include "svctrace/check.h"
#include "svctrace/conntrack.h"
#include "svctrace/correlator.h"
#include "svctrace/diagnosis.h"
#include "svctrace/netlink.h"
#include "svctrace/netns.h"
#include "svctrace/kube_rules.h"
#include "svctrace/nat_rules.h"
#include "svctrace/output.h"
#include "svctrace/persist.h"

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
  std::string report;
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
};

void print_line(const json& j) { fmt::print("{}\n", j.dump()); }

json with_type(const char* type, json j) {
  j["type"] = type;
  return j;
}

// Fails early, before tracing, if the report could not be written at exit.
void check_report_path(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw CLI::ValidationError("--report", fmt::format("directory {} does not exist", dir.string()));
  if (access(dir.c_str(), W_OK) != 0)
    throw CLI::ValidationError("--report", fmt::format("directory {} is not writable", dir.string()));
}

// What the diagnoses relied on, for someone who was not there: the namespace's routes (every table),
// rules, addresses, rp_filter settings, as the ip tools would print them, and NAT rules (nat_rules.h).
json config_snapshot(NetlinkRouting& routing, const std::vector<Cidr>& cidrs) {
  json routes = json::array(), rules = json::object(), addresses = json::array(), rp_filter = json::object();
  for (const auto& r : routing.all_routes()) routes.push_back(format_route(r));
  for (uint8_t family : {AF_INET, AF_INET6}) {
    json& list = rules[family == AF_INET ? "ipv4" : "ipv6"] = json::array();
    for (const auto& r : routing.rules(family)) list.push_back(format_rule(r));
  }
  for (const auto& a : routing.all_addresses())
    addresses.push_back(fmt::format("{}/{} dev {}", a.addr.str(), a.prefix_len, routing.interface_name(a.ifindex)));
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const auto& dir : fs::directory_iterator("/proc/sys/net/ipv4/conf", ec)) {
    std::ifstream in(dir.path() / "rp_filter");
    int v;
    if (in >> v) rp_filter[dir.path().filename().string()] = v;
  }
  json config = {{"routes", routes}, {"rules", rules}, {"addresses", addresses}, {"rp_filter", rp_filter}};
  config.update(nat_rules_config(read_nat_rules(), cidrs));
  return config;
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
    } else if (d.verdict == "no_route") {
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
      "  1   runtime error (privileges, kernel, netlink)\n"
      "  2   usage error (one line on stderr says what)\n"
      "  3   a diagnosis was made: a flow failed (check: a service would fail)");
  app.set_version_flag("--version", std::string("svctrace ") + SVCTRACE_VERSION);
  app.add_option("--cidr", o.cidr_args, "Service CIDR to trace (repeatable), e.g. 172.24.0.0/13")
      ->required()
      ->type_name("CIDR");
  app.add_option("--netns", o.netns, "Trace inside this network namespace: a name from `ip netns` or a path")
      ->type_name("NAME|PATH");
  app.add_flag("--json", o.json, "Write NDJSON to stdout (one object per line, each with \"type\")");
  app.add_option("--report", o.report, "Write the JSON flow report to FILE at exit (atomically)")
      ->type_name("FILE");
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

  std::vector<Cidr> cidrs;
  try {
    app.parse(argc, argv);
    for (const auto& a : o.cidr_args) cidrs.push_back(Cidr::parse(a));
    if (!o.report.empty()) check_report_path(o.report);
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

  std::unique_ptr<NetlinkRouting> routing;
  std::unique_ptr<NetlinkMonitor> monitor;
  std::unique_ptr<Tracer> tracer;
  Correlator correlator({o.max_flows, o.unanswered_after_ms * 1'000'000ull, static_cast<uint32_t>(getpid())});
  try {
    routing = std::make_unique<NetlinkRouting>();
    monitor = std::make_unique<NetlinkMonitor>();
    TracerOptions topts;
    topts.cidrs = cidrs;
    topts.netns_inode = netns_inode;
    topts.route_hook = o.route_hook;
    topts.nat_hook = o.nat_hook;
    topts.ringbuf_bytes = o.ringbuf_bytes;
    topts.max_flows = static_cast<uint32_t>(o.max_flows);
    tracer = Tracer::start(topts, [&](const svc_event& ev) { correlator.on_event(ev); });
  } catch (const std::exception& e) {
    fmt::print(stderr, "svctrace: {}\n", e.what());
    return kExitRuntime;
  }

  if (o.list_hooks) {
    for (const auto& h : tracer->hooks())
      fmt::print("{:<7} {:<40} {}\n", h.role, h.name, h.live ? "live" : "refused: " + h.error);
    return kExitOk;
  }
  const DropReasonNames drop_reasons = load_drop_reason_names();
  if (!tracer->replies_seen())
    spdlog::warn("with the {} NAT hook replies are not seen: UDP and forwarded flows can only be called unanswered",
                 o.nat_hook);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  json hooks = json::array(), refused = json::array();
  std::string live_names;
  for (const auto& h : tracer->hooks()) {
    if (h.live) {
      hooks.push_back({{"role", h.role}, {"hook", h.name}});
      live_names += (live_names.empty() ? "" : ", ") + h.name;
    } else {
      refused.push_back({{"role", h.role}, {"hook", h.name}, {"error", h.error}});
      spdlog::debug("{} hook {} refused by the kernel ({}); using a fallback", h.role, h.name, h.error);
    }
  }
  json cidr_list = json::array();
  for (const auto& c : cidrs) cidr_list.push_back(c.str());
  json netns_json = {{"name", o.netns.empty() ? json(nullptr) : json(o.netns)}, {"inode", netns_inode}};
  if (o.json)
    print_line({{"type", "ready"}, {"cidrs", cidr_list}, {"netns", netns_json}, {"hooks", hooks}, {"refused", refused}});
  else
    fmt::print("svctrace: tracing {} in {} (hooks: {}). Ctrl-C to stop.\n", fmt::join(o.cidr_args, ", "),
               o.netns.empty() ? "this network namespace" : "netns " + o.netns, live_names);

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
    for (const auto& e : existing_flows(cidrs, netns_inode))
      correlator.add_existing(e.key, e.dnat_ip, e.dnat_port, e.snat_ip, e.snat_port, e.replied, now);
  } catch (const std::exception& e) {
    spdlog::warn("{}; flows opened before svctrace started are not known", e.what());
  }

  const std::string started_at = utc_now();
  const uint64_t start_ns = monotonic_ns();
  const uint64_t deadline = o.duration > 0 ? start_ns + static_cast<uint64_t>(o.duration * 1e9) : 0;
  json diagnoses = json::array();
  std::vector<RoutingChange> timeline;
  std::map<std::string, std::pair<int, int>> groups;  // diagnosis group key -> (id, count)
  struct stat init_ns {};
  const bool host_netns = stat("/proc/1/ns/net", &init_ns) == 0 && init_ns.st_ino == netns_inode;
  json timeline_json = json::array();
  int runtime_error = 0;

  // Route, rule and address changes while tracing: printed as they happen, kept for the report and
  // for the diagnoses of flows that start after them.
  auto watch_routing = [&]() {
    for (auto& c : monitor->changes(*routing)) {
      double at = static_cast<double>(c.ts_ns - start_ns) / 1e9;
      json j = {{"type", "change"}, {"kind", c.kind}, {"what", c.what}, {"deleted", c.deleted}, {"at_s", at}};
      timeline_json.push_back(j);
      if (o.json)
        print_line(j);
      else
        fmt::print("⟳ {} {}: {}\n", c.kind, c.deleted ? "deleted" : "added", c.what);
      timeline.push_back(std::move(c));
    }
  };

  auto handle_changes = [&](uint64_t now) {
    for (const auto& ch : correlator.tick(now)) {
      const Flow* f = correlator.find(ch.key);
      if (!f) continue;
      if (ch.kind == Correlator::Change::NewFlow) {
        if (o.json)
          print_line(with_type("flow", flow_json(*f, *routing)));
        else
          fmt::print("{}\n", human_flow(*f, *routing));
        continue;
      }
      if (f->state == FlowState::Unanswered || f->state == FlowState::Refused) {
        Diagnosis d = diagnose(*f, *routing, cidrs, drop_reasons);
        // The last change before the flow's first packet that concerns its service IP, its backend or
        // the devices it went by.
        const std::vector<std::string> devs = {d.egress_dev, d.route_dev};
        for (auto it = timeline.rbegin(); it != timeline.rend(); ++it) {
          if (it->ts_ns > f->first_seen_ns) continue;
          if (!it->concerns(f->key.dst, devs) && !it->concerns(f->backend_ip(), devs)) continue;
          d.preceding_change = *it;
          d.preceding_change_s = static_cast<double>(f->first_seen_ns - it->ts_ns) / 1e9;
          break;
        }
        if (d.fix_route) keep_fix_safe(d, service_pairs(read_nat_rules(), cidrs), *routing);
        if (d.fix_route && host_netns) {
          // Network managers configure the host's namespace only.
          NetworkManagement nm = detect_network_management("/", d.fix_route->oif, d.fix_route->dev);
          d.persistent_tool = nm.tool;
          d.persistent_fix = persistent_fix(nm, *d.fix_route);
        }
        correlator.set_verdict(ch.key, d.verdict);
        json dj = diagnosis_json(d);
        // Lost events may have taken the evidence that would have changed the verdict.
        uint64_t lost = tracer->counters().ringbuf_drops;
        dj["confidence"] = lost ? "low" : "high";
        if (lost) dj["confidence_reason"] = fmt::format("{} events were lost before this verdict", lost);
        // The same cause seen again (same verdict, service, backend, route, fix): one group, counted.
        std::string group_key = fmt::format("{}|{}|{}|{}|{}", d.verdict, dj["flow"]["dst"].dump(),
                                            dj["flow"]["dport"].dump(), dj["dnat"].dump(), d.fix);
        auto [group, fresh] = groups.try_emplace(group_key, groups.size() + 1, 0);
        int count = ++group->second.second;
        dj["group"] = group->second.first;
        dj["count"] = count;
        diagnoses.push_back(dj);
        if (o.json)
          print_line(dj);
        else if (fresh)
          fmt::print("{}", human_diagnosis(d));
        else
          fmt::print("✗ {}:{} → {}:{}: same as above ({}×)\n", d.flow.src.str(), d.flow.sport, d.flow.dst.str(),
                     d.flow.dport, count);
      } else if (o.json) {
        print_line(with_type("outcome", flow_json(*f, *routing)));
      } else {
        fmt::print("{}\n", human_outcome(*f));
      }
    }
  };

  auto stats_json = [&]() {
    Tracer::Counters c = tracer->counters();
    return json{{"events", correlator.events()},
                {"events_sent_by_kernel", c.events},
                {"ringbuf_drops", c.ringbuf_drops},
                {"map_update_fails", c.map_update_fails},
                {"bpf_flows", c.awaiting_size},
                {"bpf_flows_capacity", c.awaiting_capacity},
                {"bpf_flows_evicted", c.awaiting_evicted},
                {"flows", correlator.flow_count()},
                {"flows_evicted", correlator.evicted()}};
  };
  uint64_t next_stats = start_ns + static_cast<uint64_t>(o.stats_interval * 1e9);

  while (!g_stop) {
    int n = tracer->poll(100);
    if (n < 0 && n != -EINTR) {
      spdlog::error("reading the ring buffer failed: {}", std::strerror(-n));
      runtime_error = 1;
      break;
    }
    uint64_t now = monotonic_ns();
    watch_routing();
    handle_changes(now);
    if (o.json && now >= next_stats) {
      print_line(with_type("stats", stats_json()));
      next_stats = now + static_cast<uint64_t>(o.stats_interval * 1e9);
    }
    if (deadline && now >= deadline) break;
  }
  tracer->poll(0);  // what the kernel had already sent
  handle_changes(monotonic_ns());
  json stats = stats_json();
  const uint64_t ringbuf_drops = stats["ringbuf_drops"];
  tracer.reset();  // detach before reporting: nothing of svctrace stays in the kernel

  std::map<std::string, int> by_state;
  json flows = json::array();
  for (const Flow* f : correlator.flows()) {
    by_state[to_string(f->state)]++;
    flows.push_back(flow_json(*f, *routing));
  }
  if (ringbuf_drops)
    spdlog::warn("{} events were lost (ring buffer full): verdicts may be incomplete", ringbuf_drops);
  double elapsed = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  if (o.json) {
    print_line({{"type", "summary"}, {"duration_s", elapsed}, {"by_state", by_state},
                {"diagnoses", diagnoses.size()}, {"stats", stats}});
  } else {
    std::string states;
    for (const auto& [s, n] : by_state) states += fmt::format("{}{} {}", states.empty() ? "" : ", ", n, s);
    fmt::print("svctrace: {:.1f} s, {} flows{}{}; {} diagnoses; {} events, {} lost, {} flows evicted\n", elapsed,
               flows.size(), states.empty() ? "" : ": ", states, diagnoses.size(), correlator.events(),
               ringbuf_drops, correlator.evicted());
  }

  if (!o.report.empty()) {
    json report = {{"svctrace", SVCTRACE_VERSION}, {"started_at", started_at}, {"duration_s", elapsed},
                   {"cidrs", cidr_list},           {"netns", netns_json},      {"hooks", hooks},
                   {"refused_hooks", refused},     {"flows", flows},           {"diagnoses", diagnoses},
                   {"timeline", timeline_json},    {"config", config_snapshot(*routing, cidrs)},
                   {"stats", stats}};
    try {
      write_file_atomically(o.report, report.dump(2) + "\n");
      spdlog::info("report written to {}", o.report);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return kExitRuntime;
    }
  }
  if (runtime_error) return kExitRuntime;
  return diagnoses.empty() ? kExitOk : kExitDiagnosed;
}
