// The userspace half of held flows (bpf/lib/held.bpf.h): the kernel keeps a healthy flow's records to
// itself and counts it per service. This reads those counts, and releases the records of flows the
// kernel held past the time a verdict is due (nothing in the kernel will: a UDP query never sent
// again), by reading its tables through mmap, which costs no system call per flow.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "capture/kernel_counters.h"
#include "svctrace/events.h"

struct bpf_map;

namespace svctrace {

class HeldFlows {
 public:
  // The arrays as the kernel maps them (BPF_F_MMAPABLE), and the per-CPU counts. held_packets: the held
  // flows' first packets (--pcap), or null.
  HeldFlows(bpf_map* awaiting_reply, bpf_map* held_flows, bpf_map* service_counts,
            bpf_map* held_packets);  // throws std::runtime_error
  ~HeldFlows();
  HeldFlows(const HeldFlows&) = delete;
  HeldFlows& operator=(const HeldFlows&) = delete;

  // Sends the held records of every flow still unanswered age_ns after it was remembered to
  // `deliver`, in the order they happened, then its first packet to `deliver_packet` (--pcap), and
  // marks them released. now_ns: CLOCK_MONOTONIC. Returns how many flows.
  size_t release_stalled(uint64_t now_ns, uint64_t age_ns, const std::function<void(const svc_event&)>& deliver,
                         const std::function<void(const svc_packet&)>& deliver_packet);
  // The answered flows counted since the last call, per service (per-CPU values summed).
  std::vector<ServiceCount> counted_since_last();

 private:
  struct Mapping {
    void* addr = nullptr;
    size_t len = 0;
  };
  static Mapping map_array(bpf_map* m);
  void release_packet(size_t slot, const svc_tuple& flow, const std::function<void(const svc_packet&)>& deliver_packet);
  Mapping awaiting_, held_, packets_;
  size_t entries_ = 0;
  size_t slots_ = 0;
  int counts_fd_ = -1;
  struct KeyLess {
    bool operator()(const svc_service_key& a, const svc_service_key& b) const;
  };
  std::map<svc_service_key, ServiceCount, KeyLess> totals_;  // the sums the last call read
};

}  // namespace svctrace
