#include <catch2/catch.hpp>

#include "capture/read_pause.h"

using namespace svctrace;
using namespace std::chrono;

namespace {
constexpr size_t kRecord = 160;  // an event and its ring-buffer header
constexpr auto kCap = milliseconds(10);

// Records arriving during the pause at the rate the last read found them.
double arriving(int delivered, nanoseconds took, nanoseconds pause) {
  return delivered * static_cast<double>(pause.count()) / static_cast<double>(took.count());
}
}  // namespace

TEST_CASE("after a read that delivered nothing the reader does not rest", "[read_pause]") {
  CHECK(read_pause(0, milliseconds(100), 4 << 20, kRecord, kCap) == nanoseconds(0));
  CHECK(read_pause(5, milliseconds(1), 4 << 20, kRecord, nanoseconds(0)) == nanoseconds(0));  // poll(0)
}

TEST_CASE("after a read that found a sixteenth of the ring or more the reader does not rest", "[read_pause]") {
  CHECK(read_pause(26, milliseconds(10), 65536, kRecord, kCap) == nanoseconds(0));  // 4160 bytes of 65536
  CHECK(read_pause(25, milliseconds(10), 65536, kRecord, kCap) > nanoseconds(0));
}

TEST_CASE("a rest shorter than a millisecond is not taken", "[read_pause]") {
  // 8 KiB: a quarter is 12.8 records; at 2 a millisecond that is 6.4 ms, at 13 a millisecond under one.
  CHECK(read_pause(2, milliseconds(1), 8192, kRecord, kCap) > milliseconds(1));
  CHECK(read_pause(2, microseconds(150), 8192, kRecord, kCap) == nanoseconds(0));  // 13 a millisecond
}

TEST_CASE("a slow trickle into the default ring rests the whole 10 ms", "[read_pause]") {
  CHECK(read_pause(3, milliseconds(1), 4 << 20, kRecord, kCap) == kCap);
  CHECK(read_pause(3, milliseconds(1), 4 << 20, kRecord, milliseconds(2)) == milliseconds(2));  // a shorter poll
}

TEST_CASE("the rest never lets more than a quarter of the ring fill, however small the ring", "[read_pause]") {
  // bench.sh's load: ~64 k records/s; a flood: ~120 k/s; and a burst of a whole quarter ring at once.
  for (size_t ring : {size_t{4096}, size_t{65536}, size_t{262144}, size_t{4} << 20}) {
    for (auto [delivered, took] : {std::pair{640, milliseconds(10)}, std::pair{1200, milliseconds(10)},
                                   std::pair{64, milliseconds(1)},  // the same rate, read sooner
                                   std::pair{static_cast<int>(ring / 4 / kRecord), milliseconds(1)}}) {
      auto pause = read_pause(delivered, took, ring, kRecord, kCap);
      CAPTURE(ring, delivered, pause.count());
      CHECK(pause <= kCap);
      CHECK(arriving(delivered, took, pause) <= static_cast<double>(ring) / 4 / kRecord + 1);
    }
  }
  // 64 KiB at bench.sh's load, read every millisecond: 102 records fit in a quarter, 20 arrive.
  CHECK(read_pause(20, milliseconds(1), 65536, kRecord, kCap) < milliseconds(6));
}
