// How long svctrace's reader rests after reading the ring buffer (Tracer::poll, userspace/loader.cpp
// says why it rests at all). Apart so that tests can hold it to its bound.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstddef>

namespace svctrace {

// After a read that delivered `delivered` records of record_bytes each, which came in over `took`
// (since the read before ended): `cap`, or less if records arriving at that rate would fill more than
// a quarter of a ring of ring_bytes in the meantime, and none if that is under a millisecond (a
// sleep that short saves little, and the kernel's timers may oversleep it). None after a read that
// delivered nothing, or a sixteenth of the ring or more (the kernel's wakeup mark): the reader is
// busy, and a pause long enough to matter could let a burst overflow a small ring.
inline std::chrono::nanoseconds read_pause(int delivered, std::chrono::nanoseconds took, size_t ring_bytes,
                                           size_t record_bytes, std::chrono::nanoseconds cap) {
  if (delivered <= 0 || cap.count() <= 0 || static_cast<size_t>(delivered) * record_bytes >= ring_bytes / 16)
    return std::chrono::nanoseconds(0);
  double per_ns = delivered / std::max(1.0, static_cast<double>(took.count()));
  double quarter = static_cast<double>(ring_bytes) / 4 / static_cast<double>(record_bytes);
  auto pause = std::min(cap, std::chrono::nanoseconds(static_cast<long long>(quarter / per_ns)));
  return pause < std::chrono::milliseconds(1) ? std::chrono::nanoseconds(0) : pause;
}

}  // namespace svctrace
