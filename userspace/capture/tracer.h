// The loader: opens svctrace's BPF object, asks the kernel which hook candidates it accepts
// (capture/feature_probe.h), loads the best of each role, once, fills the CIDR filter, attaches
// every program, and hands ring-buffer records to a callback. Owns every kernel object it makes;
// destroying it detaches everything (links are never pinned).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "svctrace/events.h"
#include "correlate/address.h"
#include "capture/hooks.h"
#include "capture/kernel_counters.h"

namespace svctrace {

struct TracerError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TracerOptions {
  std::vector<Cidr> cidrs;
  uint32_t netns_inode = 0;           // trace only this namespace (0: all)
  RouteHook route_hook = RouteHook::automatic;
  NatHook nat_hook = NatHook::automatic;
  uint32_t ringbuf_bytes = 4u << 20;  // power of two, >= page size
  uint32_t max_flows = 65536;         // flows awaiting a reply that BPF remembers (up to a power of two)
  std::string btf_file;               // the kernel's BTF from this file (--btf), else the kernel's own
  // Stream every flow's records (--all-flows). Otherwise the kernel holds a flow's records until it
  // needs deciding, and counts the answered ones per service (bpf/lib/held.bpf.h).
  bool all_flows = false;
  // Capture the headers of the packets of flows not yet answered (--pcap): svc_packet records.
  bool capture_packets = false;
};

// A hook svctrace tried, and whether it is live.
struct HookStatus {
  HookRole role = HookRole::route;
  std::string name;   // e.g. "tp_btf/fib_table_lookup"
  bool live = false;
  std::string error;  // why the kernel refused it
  std::string note;   // a live hook's limits on this kernel ("replies not seen: ..."), or empty
};

class Tracer {
 public:
  using EventHandler = std::function<void(const svc_event&)>;
  using PacketHandler = std::function<void(const svc_packet&)>;
  // Throws TracerError with a message fit for the user. on_packet: the captured packets
  // (TracerOptions::capture_packets).
  static std::unique_ptr<Tracer> start(const TracerOptions& opts, EventHandler on_event,
                                       PacketHandler on_packet = {});
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Waits up to timeout_ms for records and delivers them; returns the number delivered or -errno.
  // Records arrive within timeout_ms even when the kernel does not wake the reader (it wakes it
  // only once a sixteenth of the ring buffer is waiting). After a read that delivered records, the
  // next one first pauses, up to 10 ms after it, less if a quarter of the ring would fill meanwhile
  // (loader.cpp says why).
  int poll(int timeout_ms);
  // Held flows (bpf/lib/held.bpf.h): delivers, like poll(), the records of the flows held unanswered
  // for age_ns (now_ns: CLOCK_MONOTONIC); returns how many flows. Nothing when every flow is streamed.
  size_t release_stalled(uint64_t now_ns, uint64_t age_ns);
  // The answered flows the kernel counted since the last call, per service.
  std::vector<ServiceCount> counted_since_last();
  using Counters = KernelCounters;
  // The kernel counters (cheap: one per-CPU array read each; the main loop reads them after every
  // poll).
  Counters counters();
  const std::vector<HookStatus>& hooks() const { return hooks_; }

 private:
  struct Impl;
  explicit Tracer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::vector<HookStatus> hooks_;
};

// The running kernel's names for enum skb_drop_reason values ("IP_RPFILTER"), read from its BTF:
// the numbers change between kernel versions. Empty when BTF cannot be read. btf_file: as
// TracerOptions'.
std::unordered_map<uint32_t, std::string> load_drop_reason_names(const std::string& btf_file = {});

// libbpf's own messages, routed to spdlog (debug level, shown with -v).
void route_libbpf_log_to_spdlog();

}  // namespace svctrace
