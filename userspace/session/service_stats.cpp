#include "session/service_stats.h"

#include <algorithm>
#include <bit>
#include <vector>

namespace svctrace {

using nlohmann::json;

void Log2Histogram::add(uint64_t us) {
  size_t bucket = us < 2 ? 0 : static_cast<size_t>(std::bit_width(us) - 1);
  buckets_[std::min(bucket, kBuckets - 1)]++;
  count_++;
}

void Log2Histogram::add_buckets(const std::array<uint64_t, kBuckets>& counts) {
  for (size_t i = 0; i < kBuckets; i++) {
    buckets_[i] += counts[i];
    count_ += counts[i];
  }
}

uint64_t Log2Histogram::quantile_upper_us(double q) const {
  if (!count_) return 0;
  // The rank of the quantile, rounded up: the median of 3 is the 2nd.
  const auto rank = static_cast<uint64_t>(std::max(1.0, q * static_cast<double>(count_) + 0.999999));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; i++) {
    seen += buckets_[i];
    if (seen >= rank) return uint64_t{2} << i;
  }
  return uint64_t{2} << (kBuckets - 1);
}

json Log2Histogram::json() const {
  size_t used = kBuckets;
  while (used > 0 && buckets_[used - 1] == 0) used--;
  return nlohmann::json(std::vector<uint64_t>(buckets_.begin(), buckets_.begin() + static_cast<long>(used)));
}

void Log2Histogram::add(const Log2Histogram& other) { add_buckets(other.buckets_); }

TimeSeries::Bucket& TimeSeries::at(uint64_t start_ns, uint64_t t_ns) {
  widen_to(start_ns, t_ns);
  const size_t i = index(start_ns, t_ns, width_ns_);
  if (buckets_.size() <= i) buckets_.resize(i + 1);
  return buckets_[i];
}

void TimeSeries::widen_to(uint64_t start_ns, uint64_t t_ns) {
  while (index(start_ns, t_ns, width_ns_) >= kMaxBuckets) {
    std::vector<Bucket> merged((buckets_.size() + 1) / 2);
    for (size_t i = 0; i < buckets_.size(); i++) {
      Bucket& into = merged[i / 2];
      into.answered += buckets_[i].answered;
      into.failed += buckets_[i].failed;
      into.connect_us.add(buckets_[i].connect_us);
    }
    buckets_ = std::move(merged);
    width_ns_ *= 2;
  }
}

json TimeSeries::json(uint64_t start_ns, uint64_t now_ns) const {
  TimeSeries all = *this;  // widened to now, as every row is, so that their buckets line up
  all.widen_to(start_ns, now_ns);
  const uint64_t span = now_ns > start_ns ? now_ns - start_ns : 0;
  const size_t n = std::max<size_t>({all.buckets_.size(), (span + all.width_ns_ - 1) / all.width_ns_, 1});
  all.buckets_.resize(std::min(n, kMaxBuckets));
  nlohmann::json answered = nlohmann::json::array(), failed = nlohmann::json::array(), p50 = nlohmann::json::array(),
                 p99 = nlohmann::json::array();
  auto ms = [](const Log2Histogram& h, double q) -> nlohmann::json {
    if (!h.count()) return nullptr;  // no answer in that bucket: no time, rather than a time of 0
    return static_cast<double>(h.quantile_upper_us(q)) / 1000;
  };
  for (const Bucket& b : all.buckets_) {
    answered.push_back(b.answered);
    failed.push_back(b.failed);
    p50.push_back(ms(b.connect_us, 0.5));
    p99.push_back(ms(b.connect_us, 0.99));
  }
  return {{"bucket_s", static_cast<double>(all.width_ns_) / 1e9},
          {"answered", answered},
          {"failed", failed},
          {"connect_p50_ms", p50},
          {"connect_p99_ms", p99}};
}

ServiceStats::Row& ServiceStats::row(const Key& key, uint64_t now_ns) {
  Row& r = rows_[key];
  if (!r.older.ns) r.older = r.newer = {now_ns, 0};
  return r;
}

void ServiceStats::add(const Flow& f, const std::string& egress_dev, uint64_t now_ns) {
  Row& r = row({endpoint(f.key.dst, f.key.dport), endpoint(f.backend_ip(), f.backend_port()), egress_dev}, now_ns);
  if (r.name.empty()) r.name = f.service;
  // Answered after it was diagnosed unanswered: counted once already, as failed under its verdict.
  const bool late_answer = f.state == FlowState::Answered && !f.verdict.empty();
  const uint64_t n = 1 + f.joined;  // with the flows of its cause that joined it
  // Its first sight, not now: the late answer lands in the bucket its failure was counted in.
  TimeSeries::Bucket& bucket = r.over_time.at(start_ns_, f.first_seen_ns);
  if (late_answer && r.failed >= n && r.verdicts[f.verdict] >= n) {
    r.failed -= n;
    if ((r.verdicts[f.verdict] -= n) == 0) r.verdicts.erase(f.verdict);
    bucket.failed -= std::min(bucket.failed, n);
  } else {
    r.flows += n;
  }
  if (f.state == FlowState::Answered) {
    r.answered += n;
    bucket.answered += n;
    if (f.reply_ns >= f.first_seen_ns) {
      const uint64_t connect_us = (f.reply_ns - f.first_seen_ns) / 1000;
      r.connect_us.add(connect_us);
      bucket.connect_us.add(connect_us);
    }
  } else if (f.state == FlowState::Unanswered || f.state == FlowState::Refused) {
    r.failed += n;
    bucket.failed += n;
    r.verdicts[f.verdict.empty() ? to_string(f.state) : f.verdict] += n;
  }
  move_marks(r, now_ns);
}

void ServiceStats::add_answered(const CountedFlows& c, const std::string& egress_dev, uint64_t now_ns) {
  Row& r = row({c.service, c.backend, egress_dev}, now_ns);
  if (r.name.empty()) r.name = c.service_name;
  r.flows += c.answered;
  r.answered += c.answered;
  r.connect_us.add_buckets(c.connect_us_log2);
  TimeSeries::Bucket& bucket = r.over_time.at(start_ns_, now_ns);  // answered since the last read
  bucket.answered += c.answered;
  bucket.connect_us.add_buckets(c.connect_us_log2);
  move_marks(r, now_ns);
}

// The marks move in steps of kRateStepNs, so the rate is taken over the last 2 to 4 s: recent, but not
// a jump at each step.
void ServiceStats::move_marks(Row& r, uint64_t now_ns) {
  if (now_ns < r.newer.ns + kRateStepNs) return;
  r.older = now_ns < r.newer.ns + 2 * kRateStepNs ? r.newer : Mark{now_ns - kRateStepNs, r.flows};
  r.newer = {now_ns, r.flows};
}

json ServiceStats::row_json(const Key& key, const Row& r, uint64_t now_ns) {
  const auto& [service, backend, egress] = key;
  std::string verdict = "";
  if (r.failed)
    verdict = std::max_element(r.verdicts.begin(), r.verdicts.end(), [](auto& a, auto& b) {
                return a.second < b.second;
              })->first;
  else if (r.answered)
    verdict = "answered";
  const uint64_t decided = r.answered + r.failed;
  // A service quiet for longer than the window has no recent rate.
  const bool recent = now_ns < r.newer.ns + 2 * kRateStepNs && now_ns > r.older.ns;
  // Over a second at the least: a service's first flow is not a rate of thousands a second.
  const uint64_t span = std::max<uint64_t>(now_ns - r.older.ns, kRateStepNs / 2);
  const double rate = recent ? static_cast<double>(r.flows - r.older.flows) * 1e9 / static_cast<double>(span) : 0;
  json j = {{"service", service},
            {"backend", backend},
            {"egress_dev", egress},
            {"flows", r.flows},
            {"answered", r.answered},
            {"failed", r.failed},
            {"verdict", verdict},
            {"answered_pct", decided ? 100.0 * static_cast<double>(r.answered) / static_cast<double>(decided) : 0.0},
            {"flows_per_s", rate},
            {"flows_in_interval", r.flows - r.flows_at_interval},
            {"connect_p50_ms", static_cast<double>(r.connect_us.quantile_upper_us(0.5)) / 1000},
            {"connect_p99_ms", static_cast<double>(r.connect_us.quantile_upper_us(0.99)) / 1000},
            {"connect_us_log2", r.connect_us.json()}};
  if (!r.name.empty()) j["service_name"] = r.name;
  return j;
}

json ServiceStats::rows(uint64_t now_ns, size_t limit, Detail detail) const {
  std::vector<std::pair<const Key*, const Row*>> order;
  for (const auto& [key, row] : rows_) order.emplace_back(&key, &row);
  auto answered_share = [](const Row& r) {
    return r.answered + r.failed ? static_cast<double>(r.answered) / static_cast<double>(r.answered + r.failed) : 1.0;
  };
  std::stable_sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    const Row &x = *a.second, &y = *b.second;
    if (x.failed != y.failed) return x.failed > y.failed;
    if (answered_share(x) != answered_share(y)) return answered_share(x) < answered_share(y);
    return x.flows > y.flows;
  });
  if (limit && order.size() > limit) order.resize(limit);
  json out = json::array();
  for (const auto& [key, row] : order) {
    out.push_back(row_json(*key, *row, now_ns));
    if (detail == Detail::OverTime) out.back()["over_time"] = row->over_time.json(start_ns_, now_ns);
  }
  return out;
}

void ServiceStats::end_interval() {
  for (auto& [key, row] : rows_) row.flows_at_interval = row.flows;
}

}  // namespace svctrace
