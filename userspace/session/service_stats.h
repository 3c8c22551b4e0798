// What the flows to each service did, counted as each is decided: per service IP:port -> backend ->
// egress device, how many flows, how many were answered and how fast, how many failed and the verdict
// most of them got. On a busy node this, not a line per flow, is what the healthy traffic shows: the
// live table on a terminal, the periodic `services` lines, and the closing summary all read it.
#pragma once
#include <nlohmann/json.hpp>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "correlate/correlator.h"

namespace svctrace {

// Times in log2 buckets of microseconds, as a BPF program can count them: bucket i holds [2^i, 2^(i+1))
// µs, bucket 0 also 0. A percentile is the upper bound of its bucket, within a factor of two.
class Log2Histogram {
 public:
  static constexpr size_t kBuckets = SVC_CONNECT_BUCKETS;  // as the kernel counts them
  void add(uint64_t us);
  // Counts already in buckets (the kernel's), added.
  void add_buckets(const std::array<uint64_t, kBuckets>& counts);
  uint64_t count() const { return count_; }
  // The upper bound in µs of the bucket holding the q-th quantile (0 < q <= 1); 0 when empty.
  uint64_t quantile_upper_us(double q) const;
  nlohmann::json json() const;  // the counts, without the empty buckets at the end

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

class ServiceStats {
 public:
  // A decided flow (answered, refused, unanswered, abandoned) or, at the end, one still undecided;
  // egress_dev: the device it left by. A flow answered after it was diagnosed (its verdict set) moves
  // from failed to answered.
  void add(const Flow& f, const std::string& egress_dev, uint64_t now_ns);
  // Flows the kernel counted answered (held flows), that left by egress_dev.
  void add_answered(const CountedFlows& c, const std::string& egress_dev, uint64_t now_ns);

  // All rows, worst first: most failures, then the lowest share answered, then the most flows. Each
  // has service, backend, egress_dev, flows, answered, failed, verdict, service_name (when known),
  // answered_pct, flows_per_s (over the last 2 to 4 s), connect_p50_ms and connect_p99_ms (upper
  // bounds, from the answered flows), connect_us_log2 and flows_in_interval (since the last
  // end_interval). limit > 0 keeps the first limit rows.
  nlohmann::json rows(uint64_t now_ns, size_t limit = 0) const;
  // Starts a new interval for flows_in_interval.
  void end_interval();
  bool empty() const { return rows_.empty(); }

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // service, backend, egress device
  struct Mark {
    uint64_t ns = 0, flows = 0;
  };
  struct Row {
    uint64_t flows = 0, answered = 0, failed = 0, flows_at_interval = 0;
    std::map<std::string, uint64_t> verdicts;
    std::string name;
    Log2Histogram connect_us;
    Mark older, newer;  // the flows counted at two instants 2 s apart, for flows_per_s
  };
  static constexpr uint64_t kRateStepNs = 2'000'000'000ull;
  static void move_marks(Row& r, uint64_t now_ns);
  Row& row(const Key& key, uint64_t now_ns);
  static nlohmann::json row_json(const Key& key, const Row& r, uint64_t now_ns);
  std::map<Key, Row> rows_;
};

}  // namespace svctrace
