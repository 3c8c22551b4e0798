// What the kernel side counted, as the tracer reads it (per-CPU values summed). A plain struct: the
// session and the recording read it without linking the tracer.
#pragma once
#include <cstdint>

namespace svctrace {

// The kernel side's counters, as the loader reads them (per-CPU values summed).
struct KernelCounters {
  uint64_t events = 0;
  uint64_t ringbuf_drops = 0;
  uint64_t awaiting_size = 0;       // flows in the BPF awaiting_reply table, not yet answered
  uint64_t awaiting_capacity = 0;
  uint64_t awaiting_evicted = 0;    // pushed out of it by other flows before their reply
  uint64_t conn_unreadable = 0;     // conntrack entries the BPF side could not read (not recorded)
};

}  // namespace svctrace
