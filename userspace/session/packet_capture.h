// --pcap: the headers the kernel captured of the packets of flows not yet answered
// (bpf/lib/packets.bpf.h), kept for the flows that were diagnosed and written at the end as pcapng,
// each packet with a comment that says where svctrace saw it and what it decided of its flow.
// A packet waits with its flow until the flow is decided: a failed flow's are kept, an answered
// flow's forgotten.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <tuple>
#include <string>
#include <unordered_map>
#include <vector>

#include "correlate/correlator.h"
#include "svctrace/events.h"

namespace svctrace {

class PacketCapture {
 public:
  // max_packets: the packets kept for the file (then counted, not kept); as many may wait for their
  // flows' verdicts. unix_minus_monotonic_ns: CLOCK_REALTIME - CLOCK_MONOTONIC, for the timestamps.
  PacketCapture(size_t max_packets, uint64_t unix_minus_monotonic_ns);

  void on_packet(const svc_packet& p);
  // The flow was diagnosed: its packets, those waiting and those to come, go in the file, with its
  // verdict and group. diagnosis: its index among the report's diagnoses, or -1 when not kept there.
  void flow_failed(const Flow& f, const std::string& verdict, int group, long diagnosis);
  // The flow was answered: its waiting packets are forgotten.
  void flow_answered(const Flow& f);
  // An undecided flow left the correlator's table under a flood (CorrelatorConfig::
  // on_undecided_evicted): its waiting packets wait with the flow of its cause it joined, or are
  // forgotten (counted) when it joined none.
  void flow_evicted(const FlowKey& gone, const FlowKey* joined_into);

  // Names for the file: a device's name, a drop reason's.
  struct Names {
    std::function<std::string(int ifindex)> interface;
    std::function<std::string(uint32_t reason)> drop_reason;
  };
  struct File {
    std::string bytes;  // pcapng
    // The frame numbers (from 1) of each kept diagnosis' packets.
    std::unordered_map<long, std::vector<uint32_t>> frames_by_diagnosis;
  };
  // The file of the kept packets, in the order they were captured.
  File file(const Names& names) const;

  uint64_t kept() const { return kept_.size(); }
  // Packets not in the file: past max_packets, or waiting when too many waited.
  uint64_t not_kept() const { return not_kept_; }

 private:
  struct Verdict {
    std::string verdict;
    int group = 0;
    long diagnosis = -1;
  };
  struct Kept {
    svc_packet packet;
    size_t verdict;  // index in verdicts_
  };
  void keep(const svc_packet& p, size_t verdict);
  size_t verdict_index(const std::string& verdict, int group, long diagnosis);
  void forget_waiting(const FlowKey& key);

  size_t max_packets_;
  uint64_t unix_offset_ns_;
  std::unordered_map<FlowKey, std::vector<svc_packet>, FlowKeyHash> waiting_;
  size_t waiting_count_ = 0;
  // Diagnosed flows (at most max_packets of them) -> their verdict in verdicts_, for their later packets.
  std::unordered_map<FlowKey, size_t, FlowKeyHash> failed_;
  std::vector<Verdict> verdicts_;  // each once: the diagnoses of a group not kept in the report share one
  std::map<std::tuple<std::string, int, long>, size_t> verdict_index_;
  std::vector<Kept> kept_;
  uint64_t not_kept_ = 0;
};

}  // namespace svctrace
