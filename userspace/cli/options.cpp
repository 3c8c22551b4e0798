// The command line as CLI11 reads it: the options, their help, and what is checked before tracing.
#include "cli/options.h"

#include <CLI/CLI.hpp>
#include <unistd.h>


#include "cli/enum_choice.h"
#include "cli/validators.h"
#include "node/rules/nat_rules.h"
#include "report/human_output.h"
#include "report/metrics.h"
#include "report/ndjson_output.h"
#include "report/terminal.h"

namespace svctrace::cli {

namespace {

constexpr const char* kDescription =
    "svctrace: catches connections to Kubernetes Service IPs that get no answer, and says why.\n"
    "It records, per flow to a service CIDR, the source the kernel chose, the route that chose it,\n"
    "the DNAT target and the real egress device, and names the route to fix when they disagree.";

constexpr const char* kFooter =
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
    "  3   a diagnosis was made: a flow failed (check: a service would fail)";

constexpr const char* kCheckFooter =
    "Examples:\n"
    "  svctrace check --cidr 10.96.0.0/12\n"
    "      Read this network namespace's NAT rules and say, for each Service IP -> endpoint pair,\n"
    "      whether its connections would leave with a source the endpoint can answer.\n"
    "  svctrace check --cidr 10.96.0.0/12 --netns cni-5d1f --json\n"
    "      The same inside the network namespace `ip netns` calls cni-5d1f, an NDJSON object per pair.\n"
    "  svctrace check --cidr 10.96.0.0/12 --iptables-save rules.txt --nft-json ruleset.json\n"
    "      Rules captured elsewhere (iptables-save >rules.txt, nft -j list ruleset >ruleset.json),\n"
    "      checked against this namespace's routing.\n"
    "\n"
    "Privileges:\n"
    "  reading the rules needs CAP_NET_ADMIN (root); --netns needs CAP_SYS_ADMIN. No BPF.\n"
    "\n"
    "Exit status:\n"
    "  0   every pair would work\n"
    "  1   runtime error (rules that exist but could not be read, netlink)\n"
    "  2   usage error (one line on stderr says what)\n"
    "  3   at least one pair would fail";

constexpr const char* kReplayFooter =
    "Examples:\n"
    "  svctrace replay /tmp/svctrace.rec\n"
    "      The flows, outcomes, routing changes and diagnoses of a capture made with\n"
    "      `svctrace --cidr ... --record /tmp/svctrace.rec`, as the live run printed them.\n"
    "  svctrace replay /tmp/svctrace.rec --json --report /tmp/replayed.html\n"
    "      The same as NDJSON, and the report written from the capture (an HTML page).\n"
    "\n"
    "Privileges:\n"
    "  none: no root, no BPF, nothing of this machine is consulted.\n"
    "\n"
    "Exit status:\n"
    "  0   nothing wrong was found in the capture\n"
    "  1   runtime error (a report that cannot be written)\n"
    "  2   usage error: FILE is not an svctrace recording (one line on stderr says what)\n"
    "  3   a flow of the capture was diagnosed";

// How the output looks, for every command.
void add_look_options(CLI::App& app, Options& o) {
  app.add_option("--color", o.color, "Colour the human output: auto (when stdout is a terminal and NO_COLOR\n"
                 "is unset), always, never")
      ->type_name("WHEN")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("-v,--verbose", o.verbose, "More logs on stderr (-vv: libbpf's too)");
}

// What is traced, and what is written.
void add_tracing_options(CLI::App& app, Options& o) {
  app.add_option("--cidr", o.cidr_args, "Service CIDR to trace (repeatable), e.g. 172.24.0.0/13; required")
      ->type_name("CIDR");
  app.add_option("--netns", o.netns, "Trace inside this network namespace: a name from `ip netns` or a path")
      ->type_name("NAME|PATH");
  app.add_flag("--json", o.json, "Write NDJSON to stdout (one object per line, each with \"type\")");
  app.add_flag("--all-flows", o.all_flows,
               "A line for every flow when seen and when answered (--json: a flow and an\n"
               "outcome line); by default only failed flows are shown, and the healthy ones\n"
               "are counted per service, in the kernel, without a record each");
  app.add_option("--host-root", o.host_root,
                 "Where the host's files are, for pod names (kubelet's /var/log/pods, the CNI's\n"
                 "/var/lib/cni): / (default), or /host in a DaemonSet that mounts the host there")
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory.description(""));
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
      ->check(positive_seconds());
}

// How it is traced: hooks, sizes, timings.
void add_tuning_options(CLI::App& app, Options& o) {
  app.add_option("--route-hook", o.route_hook, "Route hook: auto (best the kernel allows), fexit, tp_btf, raw_tp")
      ->type_name("HOOK")
      ->transform(enum_choice(kRouteHooks));
  app.add_option("--nat-hook", o.nat_hook,
                 "NAT hook: auto, netfilter (6.4+), fexit (older kernels that allow it),\n"
                 "net_dev_queue (the rest)")
      ->type_name("HOOK")
      ->transform(enum_choice(kNatHooks));
  app.add_option("--btf", o.btf_file,
                 "The kernel's BTF from FILE, for kernels without /sys/kernel/btf/vmlinux\n"
                 "(or containers that do not see it): a copy of that file, or a vmlinux with BTF")
      ->type_name("FILE");
  app.add_option("--ringbuf-size", o.ringbuf_bytes, "BPF ring buffer size in bytes, a power of two (default 4 MiB)")
      ->type_name("BYTES")
      ->check(CLI::Validator(
          [](std::string& v) {
            unsigned long n = std::stoul(v);
            return (n >= 4096 && (n & (n - 1)) == 0 && n <= (1ul << 30)) ? std::string{}
                                                                         : "must be a power of two, 4096..1 GiB";
          },
          "POW2"));
  app.add_option("--stats-interval", o.stats_interval,
                 "Every SEC seconds (default 10), the counts per service (off a terminal), and\n"
                 "with --json a stats line")
      ->type_name("SEC")
      ->check(positive_seconds());
  app.add_option("--unanswered-after", o.unanswered_after_ms,
                 "Call a flow unanswered after MS milliseconds without reply, if no SYN\n"
                 "retransmit said so earlier (default 1500)")
      ->type_name("MS")
      ->check(CLI::Range(10u, 600000u));
  app.add_option("--max-flows", o.max_flows, "Flows kept in memory; the oldest are evicted (default 65536)")
      ->type_name("N")
      ->check(CLI::Range(size_t{16}, size_t{1} << 24));
}

// What else is made of the trace, and how it looks.
void add_extra_options(CLI::App& app, Options& o) {
  app.add_option("--record", o.record,
                 "Save the raw events, with what svctrace asked the node, to FILE at exit, for\n"
                 "`svctrace replay FILE` elsewhere (written atomically: while tracing it grows in\n"
                 "FILE.XXXXXX beside FILE, which replays too if svctrace is killed)")
      ->type_name("FILE");
  app.add_option("--pcap", o.pcap,
                 "Write the packets of the diagnosed flows to FILE at exit, as pcapng (atomically):\n"
                 "their SYNs and retransmits as they left, dropped replies with the kernel's\n"
                 "reason, ICMP errors, resets; the first 128 bytes of each, from the IP header, with\n"
                 "a comment naming where it was seen and the flow's verdict. Healthy flows' are not kept")
      ->type_name("FILE");
  app.add_option("--pcap-max-packets", o.pcap_max_packets, "Packets written to --pcap at most (default 10000); the rest are counted")
      ->type_name("N")
      ->check(CLI::Range(size_t{1}, size_t{1} << 22));
  app.add_option("--metrics", o.metrics,
                 "Serve Prometheus metrics at http://ADDR:PORT/metrics while tracing, e.g.\n"
                 "127.0.0.1:9100 or [::1]:9100; bound in the namespace svctrace started in,\n"
                 "not the --netns one")
      ->type_name("ADDR:PORT")
      ->check(CLI::Validator(listen_address_error, ""));
  add_look_options(app, o);
}

// What a subcommand takes of the main options is listed in its own --help too. --cidr and --report,
// which may come before the subcommand and after it, each fill a list of their own that
// parse_options adds to the main one.
struct SubcommandLists {
  std::vector<std::string> cidr_args, reports;
};

CLI::App* add_check_command(CLI::App& app, Options& o, SubcommandLists& lists) {
  CLI::App* check_cmd = app.add_subcommand(
      "check",
      "Before an outage, without traffic: for each service IP -> endpoint pair in the namespace's NAT rules\n"
      "(iptables-save, nft -j list ruleset, and IPVS's ipvsadm -Ln), say whether its connections would leave\n"
      "with a source their egress device does not own. Exit 3 when any would, so it can gate node bootstrap.");
  check_cmd->fallthrough();
  check_cmd->footer(kCheckFooter);
  check_cmd->add_option("--cidr", lists.cidr_args, "Service CIDR whose DNAT rules to check (repeatable); required")
      ->type_name("CIDR");
  check_cmd->add_option("--netns", o.netns, "Check inside this network namespace: a name from `ip netns` or a path")
      ->type_name("NAME|PATH");
  check_cmd->add_flag("--json", o.json, "Write NDJSON to stdout: an object per pair, with \"type\": \"check\"");
  add_look_options(*check_cmd, o);
  check_cmd
      ->add_option("--iptables-save", o.rules_file, "Read the rules from FILE (iptables-save output), not the namespace's")
      ->type_name("FILE")
      ->check(CLI::ExistingFile.description(""))
      ->check(CLI::Validator([](std::string& f) { return iptables_save_file_error(f); }, ""));
  check_cmd
      ->add_option("--nft-json", o.nft_file, "Read the rules from FILE (nft -j list ruleset output), not the namespace's")
      ->type_name("FILE")
      ->check(CLI::ExistingFile.description(""))
      ->check(CLI::Validator([](std::string& f) { return nft_json_file_error(f); }, ""));
  return check_cmd;
}

CLI::App* add_replay_command(CLI::App& app, Options& o, SubcommandLists& lists) {
  CLI::App* replay_cmd = app.add_subcommand(
      "replay",
      "Run a recording made with --record through the same correlator and diagnosis, offline, and print\n"
      "the same verdicts: a capture someone who was not there can examine.");
  replay_cmd->fallthrough();
  replay_cmd->footer(kReplayFooter);
  replay_cmd->add_option("FILE", o.replay_file, "The recording")
      ->required()
      ->check(CLI::ExistingFile.description(""));
  replay_cmd->add_flag("--json", o.json, "Write NDJSON to stdout, the lines the live run's --json wrote");
  replay_cmd->add_flag("--all-flows", o.all_flows, "A line for every flow, as the live run's --all-flows");
  replay_cmd->add_option("--pcap", o.pcap, "Write the diagnosed flows' packets to FILE, as the live run's --pcap (if it had one)")
      ->type_name("FILE");
  replay_cmd
      ->add_option("--report", lists.reports,
                   "Write the capture's report to FILE: an HTML page if FILE ends in .html,\n"
                   "JSON otherwise; repeat for both")
      ->type_name("FILE")
      ->allow_extra_args(false);
  add_look_options(*replay_cmd, o);
  return replay_cmd;
}

// Fails early, before tracing, if a file could not be written at exit.
void check_output_path(const std::string& flag, const std::string& path) {
  const std::string error = output_path_error(path);
  if (!error.empty()) throw CLI::ValidationError(flag, error);
}

// What CLI11 cannot check alone: the options against each other, the CIDRs, the files to write.
void check_options(Options& o) {
  if (o.cidr_args.empty() && o.command != Command::Replay) throw CLI::RequiredError("--cidr");
  for (const auto& a : o.cidr_args) o.cidrs.push_back(Cidr::parse(a));
  for (const auto& path : o.reports) check_output_path("--report", path);
  if (!o.record.empty()) check_output_path("--record", o.record);
  if (!o.pcap.empty()) check_output_path("--pcap", o.pcap);
  if (!o.ready_file.empty()) check_output_path("--ready-file", o.ready_file);
  if (!o.metrics.empty() && o.command != Command::Trace)
    throw CLI::ValidationError("--metrics", "serves metrics while tracing, not with check, replay or --hooks");
}

ColorMode color_mode(const std::string& when) {
  return when == "always" ? ColorMode::Always : when == "never" ? ColorMode::Never : ColorMode::Auto;
}

}  // namespace

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{kDescription, "svctrace"};
  app.footer(kFooter);
  app.set_version_flag("--version", std::string("svctrace ") + SVCTRACE_VERSION);
  add_tracing_options(app, o);
  add_tuning_options(app, o);
  add_extra_options(app, o);
  SubcommandLists check_lists, replay_lists;
  CLI::App* check_cmd = add_check_command(app, o, check_lists);
  CLI::App* replay_cmd = add_replay_command(app, o, replay_lists);
  try {
    app.parse(argc, argv);
    for (const SubcommandLists* l : {&check_lists, &replay_lists}) {
      o.cidr_args.insert(o.cidr_args.end(), l->cidr_args.begin(), l->cidr_args.end());
      o.reports.insert(o.reports.end(), l->reports.begin(), l->reports.end());
    }
    o.command = replay_cmd->parsed() ? Command::Replay
                : check_cmd->parsed() ? Command::Check
                : o.list_hooks        ? Command::Hooks
                                      : Command::Trace;
    check_options(o);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);
    return std::nullopt;
  } catch (const CLI::CallForVersion& e) {
    app.exit(e);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    throw Failure(kExitUsage, e.what());
  } catch (const CidrError& e) {
    throw Failure(kExitUsage, std::string("--cidr: ") + e.what());
  }
  return o;
}

// The one place that chooses between the two forms of output.
std::unique_ptr<Output> make_output(const Options& o) {
  if (o.json) return std::make_unique<NdjsonOutput>();
  return std::make_unique<HumanOutput>(use_color(color_mode(o.color), STDOUT_FILENO), stdout, wrap_width(STDOUT_FILENO));
}

}  // namespace svctrace::cli
