// One tracing session, live or replayed: feeds the kernel's events to the correlator, diagnoses the
// flows it decides, prints flows, outcomes and diagnoses, and builds the report. Everything it asks
// the node goes through Node, and everything it is fed goes through its own methods, so a recorded
// session (record.h) replays offline to the same verdicts.
#pragma once
#include <nlohmann/json.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "capture/kernel_counters.h"
#include "node/conntrack.h"
#include "correlate/correlator.h"
#include "diagnose/diagnosis.h"
#include "node/rules/service_pair.h"
#include "node/node.h"
#include "node/route.h"
#include "report/output.h"
#include "session/packet_capture.h"
#include "session/service_stats.h"

namespace svctrace {

class Recorder;

class NodeCache;

struct SessionOptions {
  std::vector<Cidr> cidrs;
  // Told of every decided flow (e.g. the metrics): with its diagnosis, or without one.
  std::function<void(const Flow&, const Diagnosis&)> on_diagnosis;
  std::function<void(const Flow&)> on_outcome;
  // Told of the answered flows the kernel counted (held flows), with the Service's name if known.
  std::function<void(const CountedFlows&)> on_counted;
  bool host_netns = false;         // tracing the host's namespace: persistent fixes make sense
  // The node is this machine's namespace (not a recording): a fix is proven by its kernel, in a scratch
  // namespace that mirrors it (diagnose/safe_fix.h).
  bool prove_fixes = false;
  uint64_t start_ns = 0;           // CLOCK_MONOTONIC at the start, for the timeline's offsets
  uint64_t stats_interval_ns = 10'000'000'000ull;  // Output::stats and Output::services this often
  // A flow and an outcome line for every flow (--all-flows). Otherwise only the flows that failed get
  // them, just before their diagnosis, and the healthy traffic shows as counts per service.
  bool all_flows = false;
  // Output::services every stats interval; off where a live table on the terminal shows them.
  bool service_lines = true;
  CorrelatorConfig correlator;
  // --pcap: keep up to this many packets of the diagnosed flows (0: no capture), time-stamped with
  // CLOCK_REALTIME - CLOCK_MONOTONIC added.
  size_t pcap_max_packets = 0;
  uint64_t unix_minus_monotonic_ns = 0;
};

class Session {
 public:
  // The report's flows: kKeptFlows of those still in the table (up to --max-flows of them), the
  // diagnosed ones first, then those seen last. As JSON a flow takes ~6 KB: all 65536 of a full table made the exit's peak ~10 times
  // the tracing's.
  static constexpr size_t kKeptFlows = 4096;

  // What the session prints goes to `out`, which outlives it.
  Session(SessionOptions opts, Node& node, DropReasonNames drop_reasons, Output& out);
  ~Session();

  // Everything the session is fed is also written to the recorder, if one is set.
  void record_to(Recorder* recorder) { recorder_ = recorder; }

  void on_event(const svc_event& ev);
  // The headers of a packet of a flow not yet answered (--pcap).
  void on_packet(const svc_packet& p);
  void add_existing(const ExistingFlow& e, uint64_t now_ns);
  // Answered flows the kernel counted and kept to itself (held flows), since the last call.
  void on_counted(const std::vector<ServiceCount>& counts, uint64_t now_ns);
  // Route, rule and address changes: printed, kept for the report and for the diagnoses of the
  // flows that start after them.
  void on_changes(std::vector<RoutingChange> changes);
  // Decides what is due at now_ns: prints new flows, outcomes and diagnoses, and the stats when they
  // are due. `kernel` says how many events were lost, which lowers the diagnoses' confidence.
  void tick(uint64_t now_ns, const KernelCounters& kernel);

  nlohmann::json stats(const KernelCounters& kernel) const;
  // Ends the session: returns the report's "services", "flows", "diagnoses", "timeline" and "stats".
  // The closing summary waits for summarize(), called once the reports and the recording are written:
  // a stdout that fails or blocks then cannot cost them.
  nlohmann::json finish(double elapsed_s, const KernelCounters& kernel);
  void summarize();  // prints the closing summary of finish()
  // --pcap: the packets of the diagnosed flows as pcapng, made by finish() (empty before, or without
  // --pcap).
  const std::string& pcap() const { return pcap_; }
  // Whether a flow failed while svctrace watched: a flow from before the start that failed then and
  // showed nothing since is the past, and does not count.
  bool diagnosed() const {
    return diagnoses_made_ > preexisting_diagnoses_ || correlator_.preexisting_still_failing() > 0;
  }
  uint64_t events() const { return correlator_.events(); }
  // Flows the kernel counted answered without sending a record of them.
  uint64_t counted() const { return counted_; }
  // The services, worst first, for the live table (at most limit rows; 0: all).
  nlohmann::json services(uint64_t now_ns, size_t limit) const { return services_.rows(now_ns, limit); }
  size_t flow_count() const { return correlator_.flow_count(); }

 private:
  CorrelatorConfig correlator_config();
  void diagnose_flow(const Flow& f, const KernelCounters& kernel);
  // Its Kubernetes names, from kube-proxy's rules and the node's files (Flow::service, Flow::pod).
  void name_flow(const Flow& f);
  void decided(const Flow& f, const KernelCounters& kernel, uint64_t now_ns);
  void count_in_services(const Flow& f, uint64_t now_ns);

  SessionOptions opts_;
  // What the session prints goes out at the end of each call that printed it, in one write for all
  // the lines of a tick (a flood decides thousands of flows per tick).
  Output& out_;
  std::unique_ptr<NodeCache> node_cache_;  // the node, its answers remembered for one tick
  Node& node_;                            // ... asked through that
  DropReasonNames drop_reasons_;
  Correlator correlator_;
  Recorder* recorder_ = nullptr;
  ServiceStats services_;
  // The report keeps the first kKeptPerGroup diagnoses of each group and kKeptDiagnoses in all: a
  // flood of one failure would otherwise grow it without bound. The last kept one of a group carries
  // the group's count; every diagnosis is still printed.
  static constexpr size_t kKeptDiagnoses = 4096, kKeptPerGroup = 64, kMaxGroups = 4096;
  nlohmann::json diagnoses_ = nlohmann::json::array();
  uint64_t diagnoses_made_ = 0;
  uint64_t flows_diagnosed_ = 0;  // the flows of those diagnoses, the ones that joined them included
  uint64_t preexisting_diagnoses_ = 0;  // of them, of flows from before the start
  nlohmann::json timeline_json_ = nlohmann::json::array();
  std::vector<RoutingChange> timeline_;
  // The service IP -> endpoint pairs seen DNAT'd while tracing (at most kMaxTracedPairs): a fix is
  // checked against them as well as against the NAT rules' pairs.
  static constexpr size_t kMaxTracedPairs = 4096;
  std::vector<ServicePair> traced_pairs_;
  std::set<PairKey> traced_pair_keys_;
  void remember_pair(const Flow& f);
  void remember_pair(ServicePair p);
  // A fix chosen for a wide candidate is reused until the routing changes (a new timeline entry) or
  // more pairs are known: proving it builds a scratch namespace per candidate.
  struct ChosenFix {
    size_t timeline_size = 0, pairs = 0;
    Diagnosis fix;  // only its fix fields are used
  };
  std::map<std::string, ChosenFix> chosen_fixes_;
  void choose_fix(Diagnosis& d);
  struct Group {
    int id = 0;
    int count = 0;
    size_t last_kept = 0;  // index in diagnoses_ of its last kept diagnosis
    size_t kept = 0;
  };
  std::map<std::string, Group> groups_;  // diagnosis group key -> group (at most kMaxGroups)
  int next_group_ = 0;
  uint64_t next_stats_ns_ = 0;
  uint64_t counted_ = 0;
  bool warned_conn_unreadable_ = false;
  std::optional<Output::Summary> summary_;  // made by finish(), printed by summarize()
  std::unique_ptr<PacketCapture> packets_;  // with --pcap
  std::string pcap_;
  void write_pcap();
};

}  // namespace svctrace
