// One tracing session: the correlator's decisions turned into lines, diagnoses and the report.
#include "session/session.h"
#include "diagnose/persistent_fix.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "diagnose/safe_fix.h"
#include "node/rules/service_pair.h"
#include "node/node_cache.h"
#include "report/output.h"
#include "session/recording.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace svctrace {

using nlohmann::json;

// "1 event was lost", "2 events were lost".
static std::string lost(uint64_t events) {
  return events == 1 ? "1 event was lost" : fmt::format("{} events were lost", events);
}

Session::Session(SessionOptions opts, Node& node, DropReasonNames drop_reasons, Output& out)
    : opts_(std::move(opts)),
      out_(out),
      node_cache_(std::make_unique<NodeCache>(node)),
      node_(*node_cache_),
      drop_reasons_(std::move(drop_reasons)),
      correlator_(correlator_config()),
      services_(opts_.start_ns),
      next_stats_ns_(opts_.start_ns + opts_.stats_interval_ns) {
  if (opts_.pcap_max_packets)
    packets_ = std::make_unique<PacketCapture>(opts_.pcap_max_packets, opts_.unix_minus_monotonic_ns);
}

Session::~Session() { out_.flush(); }

// The options' correlator config, told to hand the packets of an undecided flow evicted under a flood
// to the flow of its cause it joined (--pcap).
CorrelatorConfig Session::correlator_config() {
  CorrelatorConfig c = opts_.correlator;
  c.on_undecided_evicted = [this](const FlowKey& gone, const FlowKey* joined_into) {
    if (packets_) packets_->flow_evicted(gone, joined_into);
  };
  return c;
}

void Session::on_event(const svc_event& ev) {
  if (recorder_) recorder_->event(ev);
  correlator_.on_event(ev);
}

void Session::on_packet(const svc_packet& p) {
  if (!packets_) return;
  if (recorder_) recorder_->packet(p);
  packets_->on_packet(p);
}

void Session::add_existing(const ExistingFlow& e, uint64_t now_ns) {
  if (recorder_) recorder_->existing(e, now_ns);
  correlator_.add_existing(e.key, e.dnat_ip, e.dnat_port, e.snat_ip, e.snat_port, e.replied, now_ns);
}

void Session::on_counted(const std::vector<ServiceCount>& counts, uint64_t now_ns) {
  if (counts.empty()) return;
  if (recorder_) recorder_->counted(counts, now_ns);
  for (const ServiceCount& c : counts) {
    const svc_service_key& k = c.key;
    const IpAddr service = IpAddr::from_bytes(k.family, k.service), backend = IpAddr::from_bytes(k.family, k.backend);
    // This host's flows DNAT'd to a backend: a pair a fix must not break, as a traced flow's is.
    if (!k.forwarded && (backend != service || k.backend_port != k.service_port))
      remember_pair({k.proto, service, k.service_port, backend, k.backend_port, "traced", {}});
    CountedFlows flows{k.proto, endpoint(service, k.service_port),
                       endpoint(backend, k.backend_port),
                       service_name(node_.service_pairs(opts_.cidrs), k.proto, service, k.service_port), c.answered,
                       c.connect_us_log2};
    services_.add_answered(flows, k.egress_ifindex ? node_.interface_name(k.egress_ifindex) : "", now_ns);
    if (opts_.on_counted) opts_.on_counted(flows);
    counted_ += c.answered;
  }
}

void Session::on_changes(std::vector<RoutingChange> changes) {
  if (changes.empty()) return;
  node_cache_->clear();  // what it remembers may be what just changed
  if (recorder_) recorder_->changes(changes);
  for (auto& c : changes) {
    double at = static_cast<double>(c.ts_ns - opts_.start_ns) / 1e9;
    timeline_json_.push_back(change_json(c, at));
    out_.change(c, at);
    timeline_.push_back(std::move(c));
  }
  out_.flush();
}

void Session::tick(uint64_t now_ns, const KernelCounters& kernel) {
  node_cache_->clear();
  if (kernel.conn_unreadable && !warned_conn_unreadable_) {
    warned_conn_unreadable_ = true;
    spdlog::warn("svctrace cannot read this kernel's conntrack entries ({} failed reads): NAT targets, "
                 "replies and drops are not seen, and flows can only be called unanswered",
                 kernel.conn_unreadable);
  }
  if (recorder_) recorder_->tick(now_ns, kernel);
  for (const auto& ch : correlator_.tick(now_ns)) {
    const Flow* f = ch.flow;
    if (!f) continue;  // evicted before it was seen
    remember_pair(*f);
    if (ch.kind == Correlator::Change::NewFlow) {
      // Read now, while the process that opened the flow most likely still runs.
      if (f->pid) correlator_.set_container(*f, node_.container_of(f->pid, f->comm));
      name_flow(*f);
      if (opts_.all_flows) out_.flow(*f, node_);
    } else {
      decided(*f, kernel, now_ns);
    }
  }
  if (now_ns >= next_stats_ns_) {
    out_.stats(stats(kernel));
    if (opts_.service_lines && !services_.empty()) out_.services(services_.rows(now_ns));
    services_.end_interval();
    next_stats_ns_ = now_ns + opts_.stats_interval_ns;
  }
  out_.flush();
}

// A flow answered in time is counted in its service's row, and printed only with --all-flows; one that
// failed (or was answered after it was diagnosed) is printed, its flow line first when that was not
// printed when it was seen.
void Session::decided(const Flow& f, const KernelCounters& kernel, uint64_t now_ns) {
  const bool failed = f.state == FlowState::Unanswered || f.state == FlowState::Refused;
  const bool shown = opts_.all_flows || f.state != FlowState::Answered || !f.verdict.empty();
  if (shown && !opts_.all_flows && f.verdict.empty()) out_.flow(f, node_);
  if (failed) {
    diagnose_flow(f, kernel);
  } else {
    if (packets_) packets_->flow_answered(f);
    if (opts_.on_outcome) opts_.on_outcome(f);
    if (shown) out_.outcome(f, node_);
  }
  count_in_services(f, now_ns);
}

void Session::count_in_services(const Flow& f, uint64_t now_ns) {
  services_.add(f, f.egress_ifindex ? node_.interface_name(f.egress_ifindex) : "", now_ns);
}

void Session::remember_pair(const Flow& f) {
  if (!f.dnat_ip || f.forwarded() || f.inbound) return;
  remember_pair({f.key.proto, f.key.dst, f.key.dport, *f.dnat_ip, f.dnat_port, "traced", {}});
}

void Session::remember_pair(ServicePair p) {
  if (traced_pairs_.size() < kMaxTracedPairs && traced_pair_keys_.insert(pair_key(p)).second)
    traced_pairs_.push_back(std::move(p));
}

// Copies what choose_safe_fix decides from one diagnosis to another.
static void take_fix(Diagnosis& to, const Diagnosis& from) {
  to.fix = from.fix;
  to.fix_route = from.fix_route;
  to.fix_would_break = from.fix_would_break;
  to.fix_conflicts = from.fix_conflicts;
  to.fix_alternative = from.fix_alternative;
  to.fix_checked_against = from.fix_checked_against;
  to.fix_proven = from.fix_proven;
}

void Session::choose_fix(Diagnosis& d) {
  const std::vector<ServicePair> pairs = merge_service_pairs({node_.service_pairs(opts_.cidrs), traced_pairs_});
  const std::string key = fmt::format("{}|{}|{}", d.fix, d.dnat_ip ? d.dnat_ip->str() : "", d.flow.dst.str());
  auto it = chosen_fixes_.find(key);
  if (it != chosen_fixes_.end() && it->second.timeline_size == timeline_.size() && it->second.pairs == pairs.size()) {
    take_fix(d, it->second.fix);
    return;
  }
  if (opts_.prove_fixes) prove_fix_safe(d, pairs, node_);
  else keep_fix_safe(d, pairs, node_);
  if (chosen_fixes_.size() < kMaxGroups) chosen_fixes_[key] = {timeline_.size(), pairs.size(), d};
}

void Session::name_flow(const Flow& f) {
  std::string service;
  if (std::any_of(opts_.cidrs.begin(), opts_.cidrs.end(), [&](const Cidr& c) { return c.contains(f.key.dst); }))
    service = service_name(node_.service_pairs(opts_.cidrs), f.key.proto, f.key.dst, f.key.dport);
  std::string pod = f.forwarded() ? node_.pod_of_ip(f.key.src) : f.container.pod;
  if (!service.empty() || !pod.empty()) correlator_.set_names(f, std::move(service), std::move(pod));
}

void Session::diagnose_flow(const Flow& f, const KernelCounters& kernel) {
  Diagnosis d = diagnose(f, node_, opts_.cidrs, drop_reasons_);
  // The last change before the flow's first packet that could have changed its route decision: of its
  // family, about its service IP, backend or source, or the devices it went by.
  const std::vector<std::string> devs = {d.egress_dev, d.route_dev};
  const std::vector<IpAddr> ips = {f.key.dst, f.backend_ip(), f.key.src};
  for (auto it = timeline_.rbegin(); it != timeline_.rend(); ++it) {
    if (it->ts_ns > f.first_seen_ns) continue;
    if (!it->concerns(ips, devs)) continue;
    d.preceding_change = *it;
    d.preceding_change_s = static_cast<double>(f.first_seen_ns - it->ts_ns) / 1e9;
    break;
  }
  if (d.fix_route) choose_fix(d);
  if (d.fix_route && opts_.host_netns) {
    // Network managers configure the host's namespace only.
    NetworkManagement nm = node_.network_management(d.fix_route->oif, d.fix_route->dev);
    d.persistent_tool = nm.tool;
    d.persistent_fix = persistent_fix(nm, *d.fix_route);
  }
  correlator_.set_verdict(f, std::string(name(d.verdict)));
  if (opts_.on_diagnosis) opts_.on_diagnosis(f, d);
  JsonObject dj = diagnosis_object(d);
  // Lost events may have taken the evidence that would have changed the verdict.
  dj.add("confidence", kernel.ringbuf_drops ? "low" : "high");
  if (kernel.ringbuf_drops)
    dj.add("confidence_reason", lost(kernel.ringbuf_drops) + " before this verdict");
  // The same cause seen again (same verdict, service, backend, route, fix): one group, counted.
  std::string group_key = fmt::format("{}|{}|{}|{}|{}", name(d.verdict), d.flow.dst.str(), d.flow.dport,
                                      d.dnat_ip ? endpoint(*d.dnat_ip, d.dnat_port) : "", d.fix);
  auto it = groups_.find(group_key);
  bool fresh = it == groups_.end();
  Group lone;  // past kMaxGroups causes, a new one is not remembered
  Group& group = !fresh ? it->second
                        : groups_.size() < kMaxGroups ? groups_.emplace(group_key, Group{}).first->second : lone;
  if (fresh) group.id = ++next_group_;
  // With the flows of its cause that joined it under a flood (Correlator::evict_for_room).
  group.count += 1 + static_cast<int>(f.joined);
  flows_diagnosed_ += 1 + f.joined;
  int count = group.count;
  dj.add("group", group.id).add("count", count);
  const std::string text = dj.text();
  diagnoses_made_++;
  if (d.preexisting) preexisting_diagnoses_++;
  long kept_at = -1;
  if (group.kept < kKeptPerGroup && diagnoses_.size() < kKeptDiagnoses) {
    group.last_kept = diagnoses_.size();
    group.kept++;
    kept_at = static_cast<long>(diagnoses_.size());
    diagnoses_.push_back(json::parse(text));
  } else if (group.kept) {
    diagnoses_[group.last_kept]["count"] = count;
  }
  if (packets_) packets_->flow_failed(f, std::string(name(d.verdict)), group.id, kept_at);
  out_.diagnosis(d, {text, count, fresh});
}

json Session::stats(const KernelCounters& c) const {
  json st{{"events", correlator_.events()},
              {"events_sent_by_kernel", c.events},
              {"flows_counted_in_kernel", counted_},
              {"flows_released_by_kernel", c.held_released},
              {"ringbuf_drops", c.ringbuf_drops},
              {"bpf_flows", c.awaiting_size},
              {"bpf_flows_capacity", c.awaiting_capacity},
              {"bpf_flows_evicted", c.awaiting_evicted},
              {"flows", correlator_.flow_count()},
              {"flows_evicted", correlator_.evicted()},
              {"flows_joined", correlator_.joined()},
              {"flows_lost_undecided", correlator_.lost_undecided()},
              {"flows_replaced", correlator_.replaced()},
              {"diagnoses", diagnoses_made_},
              {"flows_diagnosed", flows_diagnosed_},
              {"diagnoses_not_in_report", diagnoses_made_ - diagnoses_.size()},
              {"flows_not_in_report", correlator_.listed_count() - std::min(correlator_.listed_count(), kKeptFlows)}};
  if (packets_) {
    st["packets_in_pcap"] = packets_->kept();
    st["packets_not_in_pcap"] = packets_->not_kept() + c.packet_drops;
  }
  return st;
}

json Session::finish(double elapsed_s, const KernelCounters& kernel) {
  node_cache_->clear();
  if (packets_) write_pcap();
  json st = stats(kernel);
  std::map<std::string, int> by_state;
  json flows = json::array();
  const std::vector<const Flow*> all = correlator_.flows();  // in order of first sight
  // The diagnosed flows are what a report is read for: they are kept first (the last kKeptFlows of
  // them), then the latest of the others fill what is left.
  const size_t diagnosed = std::count_if(all.begin(), all.end(), [](const Flow* f) { return !f->verdict.empty(); });
  const size_t kept_diagnosed = std::min(diagnosed, kKeptFlows);
  const size_t others = all.size() - diagnosed, kept_others = std::min(others, kKeptFlows - kept_diagnosed);
  size_t nth_diagnosed = 0, nth_other = 0;
  const uint64_t now_ns = opts_.start_ns + static_cast<uint64_t>(elapsed_s * 1e9);
  for (const Flow* f : all) {
    by_state[to_string(f->state)]++;
    if (f->state == FlowState::Pending) count_in_services(*f, now_ns);  // the others were, when decided
    bool keep = f->verdict.empty() ? nth_other++ >= others - kept_others
                                   : nth_diagnosed++ >= diagnosed - kept_diagnosed;
    if (keep) flows.push_back(flow_json(*f, node_, opts_.start_ns));
  }
  if (kernel.ringbuf_drops)
    spdlog::warn("{} (ring buffer full): verdicts may be incomplete", lost(kernel.ringbuf_drops));
  out_.flush();
  // The summary line's rows stay as small as the periodic ones; the report's draw the run over time.
  summary_ = Output::Summary{elapsed_s, std::move(by_state), diagnoses_made_, services_.rows(now_ns), st, flows.size(),
                             correlator_.events(), kernel.ringbuf_drops, correlator_.evicted()};
  return {{"services", services_.rows(now_ns, 0, ServiceStats::Detail::OverTime)}, {"flows", flows}, {"diagnoses", diagnoses_}, {"timeline", timeline_json_}, {"stats", st}};
}

// The pcapng of the diagnosed flows' packets; each kept diagnosis names its frames in it.
void Session::write_pcap() {
  PacketCapture::File file = packets_->file({
      [&](int ifindex) { return node_.interface_name(ifindex); },
      [&](uint32_t reason) {
        auto it = drop_reasons_.find(reason);
        return it != drop_reasons_.end() ? it->second : fmt::format("drop reason {}", reason);
      },
  });
  for (auto& [index, frames] : file.frames_by_diagnosis)
    if (index >= 0 && static_cast<size_t>(index) < diagnoses_.size()) diagnoses_[index]["pcap_frames"] = frames;
  pcap_ = std::move(file.bytes);
}

void Session::summarize() {
  if (!summary_) return;
  out_.summary(*summary_);
  out_.flush();
}

}  // namespace svctrace
