// What the kernel side counted, as the tracer reads it (per-CPU values summed). A plain struct: the
// session and the recording read it without linking the tracer.
#pragma once
#include <array>
#include <cstdint>

#include "svctrace/events.h"

namespace svctrace {

// The kernel side's counters, as the loader reads them (per-CPU values summed).
struct KernelCounters {
  uint64_t events = 0;
  uint64_t ringbuf_drops = 0;
  uint64_t awaiting_size = 0;       // flows in the BPF awaiting_reply table, not yet answered
  uint64_t awaiting_capacity = 0;
  uint64_t awaiting_evicted = 0;    // pushed out of it by other flows before their reply
  uint64_t held_released = 0;       // held flows whose records were sent on (by the kernel, or read by
                                    // the tracer): they needed deciding
  uint64_t conn_unreadable = 0;     // conntrack entries the BPF side could not read (not recorded)
  uint64_t packet_drops = 0;        // --pcap: packets' headers that found the ring buffer full
};

// Answered flows the kernel counted for one service (held flows, bpf/lib/held.bpf.h): the key as the
// kernel wrote it, and how many more were answered since the last read, with their connect times.
struct ServiceCount {
  svc_service_key key{};
  uint64_t answered = 0;
  std::array<uint64_t, SVC_CONNECT_BUCKETS> connect_us_log2{};
};

}  // namespace svctrace
