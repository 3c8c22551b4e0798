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
#include <vector>

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
  void add(const Log2Histogram& other);

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
};

// One row's flows over time, for the report's picture of the healthy traffic around the failures:
// answered and failed flows and the connect times per bucket of time, bucket 0 starting at the
// session's start. At most kMaxBuckets buckets: when the run outlasts them, neighbours merge and the
// width doubles, so a row costs the same whatever the run's length. A bucket at width 2W is buckets 2i
// and 2i+1 at W, so a time always falls in the bucket its earlier counts merged into.
class TimeSeries {
 public:
  static constexpr size_t kMaxBuckets = 60;
  static constexpr uint64_t kFirstWidthNs = 1'000'000'000ull;
  struct Bucket {
    uint64_t answered = 0, failed = 0;
    Log2Histogram connect_us;
  };
  // The bucket holding t_ns (a time before start_ns: bucket 0), widening the buckets to reach it.
  Bucket& at(uint64_t start_ns, uint64_t t_ns);
  uint64_t width_ns() const { return width_ns_; }
  const std::vector<Bucket>& buckets() const { return buckets_; }
  // bucket_s, answered, failed, connect_p50_ms, connect_p99_ms (null where none was answered): as many
  // buckets as cover [start_ns, now_ns), at the width that fits them all (that of every row then).
  nlohmann::json json(uint64_t start_ns, uint64_t now_ns) const;

 private:
  static size_t index(uint64_t start_ns, uint64_t t_ns, uint64_t width_ns) {
    return t_ns > start_ns ? static_cast<size_t>((t_ns - start_ns) / width_ns) : 0;
  }
  void widen_to(uint64_t start_ns, uint64_t t_ns);  // doubles the width until t_ns has a bucket
  uint64_t width_ns_ = kFirstWidthNs;
  std::vector<Bucket> buckets_;  // grows to kMaxBuckets as time passes
};

class ServiceStats {
 public:
  // start_ns: the session's start, where bucket 0 of each row's counts over time begins.
  explicit ServiceStats(uint64_t start_ns = 0) : start_ns_(start_ns) {}
  // What a row of rows() carries: the counts, or also the counts over time (the report's, at exit; the
  // periodic lines stay small).
  enum class Detail { Counts, OverTime };

  // A decided flow (answered, refused, unanswered, abandoned) or, at the end, one still undecided;
  // egress_dev: the device it left by. A flow answered after it was diagnosed (its verdict set) moves
  // from failed to answered. Over time, it counts when it was first seen, where the report draws it.
  void add(const Flow& f, const std::string& egress_dev, uint64_t now_ns);
  // Flows the kernel counted answered (held flows), that left by egress_dev; over time, at now_ns.
  void add_answered(const CountedFlows& c, const std::string& egress_dev, uint64_t now_ns);

  // All rows, worst first: most failures, then the lowest share answered, then the most flows. Each
  // has service, backend, egress_dev, flows, answered, failed, verdict, service_name (when known),
  // answered_pct, flows_per_s (over the last 2 to 4 s), connect_p50_ms and connect_p99_ms (upper
  // bounds, from the answered flows), connect_us_log2 and flows_in_interval (since the last
  // end_interval); with Detail::OverTime, over_time (TimeSeries::json). limit > 0 keeps the first
  // limit rows.
  nlohmann::json rows(uint64_t now_ns, size_t limit = 0, Detail detail = Detail::Counts) const;
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
    TimeSeries over_time;
  };
  static constexpr uint64_t kRateStepNs = 2'000'000'000ull;
  static void move_marks(Row& r, uint64_t now_ns);
  Row& row(const Key& key, uint64_t now_ns);
  static nlohmann::json row_json(const Key& key, const Row& r, uint64_t now_ns);
  uint64_t start_ns_;
  std::map<Key, Row> rows_;
};

}  // namespace svctrace
