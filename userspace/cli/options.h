// svctrace's command line: the options, the subcommand they ask for, and the one error type of the
// command line, which carries the exit status.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "capture/hooks.h"
#include "correlate/address.h"
#include "report/output.h"

namespace svctrace::cli {

// Exit codes (documented in the README and --help).
constexpr int kExitOk = 0;         // traced, nothing wrong found
constexpr int kExitRuntime = 1;    // could not trace (privileges, kernel, netlink...)
constexpr int kExitUsage = 2;      // bad command line
constexpr int kExitDiagnosed = 3;  // traced, and at least one flow was diagnosed

// What ends svctrace early: main prints "svctrace: <what>" on stderr and exits with exit_code.
struct Failure : std::runtime_error {
  Failure(int code, const std::string& what) : std::runtime_error(what), exit_code(code) {}
  int exit_code;
};

enum class Command { Trace, Hooks, Check, Replay };

struct Options {
  Command command = Command::Trace;
  std::vector<std::string> cidr_args;
  std::vector<Cidr> cidrs;  // cidr_args, parsed
  std::string netns;
  std::string host_root = "/";  // where the host's files are (pod names: node/pod_names.h)
  bool json = false;
  bool all_flows = false;  // a line per flow, not only the failed ones
  std::vector<std::string> reports;
  std::string ready_file;
  bool list_hooks = false;
  double duration = 0;
  int verbose = 0;
  RouteHook route_hook = RouteHook::automatic;
  NatHook nat_hook = NatHook::automatic;
  uint32_t ringbuf_bytes = 4u << 20;
  double stats_interval = 10;
  unsigned unanswered_after_ms = 1500;
  size_t max_flows = 65536;
  std::string btf_file;  // --btf: the kernel's BTF from this file
  std::string record;
  std::string pcap;                  // --pcap: the diagnosed flows' packets, as pcapng
  size_t pcap_max_packets = 10000;
  std::string color = "auto";
  std::string metrics;
  std::string rules_file, nft_file;  // check: the NAT rules from files, not the namespace
  std::string replay_file;           // replay: the recording
};

// The options of argv; nothing when --help or --version was asked (and printed). A bad command line
// throws Failure with kExitUsage.
std::optional<Options> parse_options(int argc, char** argv);

// The form of stdout the options ask for: NDJSON or lines for a person.
std::unique_ptr<Output> make_output(const Options& o);

}  // namespace svctrace::cli
