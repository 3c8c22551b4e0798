// Prometheus metrics while tracing (--metrics ADDR:PORT): a small thread-safe registry of counters and
// gauges with labels, rendered in the text exposition format 0.0.4; an HTTP server (cpp-httplib) on a
// thread of its own that serves it at GET /metrics; and svctrace's own metrics on top of the two.
// The main loop updates, the server thread renders: the registry's lock is all they share.
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "correlate/correlator.h"
#include "diagnose/diagnosis.h"

namespace svctrace {

// Label name -> value, in the order they are printed.
using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  enum class Type { Counter, Gauge, Histogram };

  // The samples of one metric name, one per label set. References stay valid for the registry's life.
  class Family {
   public:
    Family(std::mutex& mu, std::string name, Type type, std::string help);
    // Adds `by` (>= 0 for a counter) to the sample with these labels, created at 0.
    void inc(const Labels& labels = {}, double by = 1);
    // Sets the sample: a gauge, or a counter mirroring a total kept elsewhere (the kernel's).
    void set(const Labels& labels, double value);
    void set(double value) { set({}, value); }
    // A histogram's observation: counted in every bucket whose upper bound it does not exceed.
    void observe(const Labels& labels, double value, uint64_t times = 1);

   private:
    friend class MetricsRegistry;
    struct Buckets {
      std::vector<uint64_t> counts;  // one per bound, not cumulative
      double sum = 0;
      uint64_t count = 0;
    };
    void check_labels(const Labels& labels) const;
    void update(const Labels& labels, double value, bool add);
    void render(std::string& out) const;  // with the registry's lock held
    void render_histogram(std::string& out) const;

    std::mutex& mu_;
    std::string name_, help_;
    Type type_;
    std::map<Labels, double> samples_;
    std::vector<double> bounds_;  // a histogram's bucket upper bounds, ascending (+Inf is implied)
    std::map<Labels, Buckets> histograms_;
  };

  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Declares a family; throws std::invalid_argument for a name Prometheus would reject or one
  // declared twice.
  Family& counter(const std::string& name, const std::string& help);
  Family& gauge(const std::string& name, const std::string& help);
  Family& histogram(const std::string& name, const std::string& help, std::vector<double> bounds);

  // Every family in the order declared: its HELP and TYPE lines once, then its samples.
  std::string render() const;

 private:
  Family& add(const std::string& name, Type type, const std::string& help);

  mutable std::mutex mu_;
  std::deque<Family> families_;
};

// Where --metrics listens: a numeric address (IPv4, or IPv6 in brackets) and a port.
struct ListenAddress {
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string str() const;  // "127.0.0.1:9100", "[::1]:9100"
};

// "ADDR:PORT" with ADDR a numeric IPv4 address or [IPv6] and PORT in 1..65535. Throws
// std::invalid_argument with the one line to show. Names are refused: resolving one could ask DNS.
ListenAddress parse_listen_address(const std::string& text);
// The same check for a command-line validator: the error, or "" when text is valid.
std::string listen_address_error(const std::string& text);

// A listening address that could not be used: in use, not an address of this host, no permission.
struct MetricsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Serves GET /metrics (and HEAD) with `render()`'s text; anything else is 404.
class MetricsServer {
 public:
  // Binds and listens at once, in the calling thread's network namespace, then accepts on a thread of
  // its own. Port 0 takes any free port (see port()). Throws MetricsError.
  MetricsServer(const ListenAddress& addr, std::function<std::string()> render);
  ~MetricsServer();  // stops accepting, closes the socket, joins the threads
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// svctrace's metrics: what the main loop decides, in Prometheus's terms.
class SvctraceMetrics {
 public:
  explicit SvctraceMetrics(const std::string& version);

  // The registry served at addr from now on (bound before this returns). Throws MetricsError.
  static std::unique_ptr<SvctraceMetrics> serve(const ListenAddress& addr, const std::string& version);

  // The `hooks` and `refused` arrays of the ready line ({role, hook, ...}).
  void set_hooks(const nlohmann::json& live, const nlohmann::json& refused);
  // A flow decided without a diagnosis (answered, abandoned); an answered one's time to its first
  // reply goes to svctrace_connect_duration_seconds.
  void on_outcome(const Flow& f);
  // Answered flows the kernel counted (held flows): their connect times are known to a power of two,
  // and each is observed at the middle of its bucket. service_name: "" when not known.
  void on_counted(const CountedFlows& c);
  // A flow decided with a diagnosis.
  void on_diagnosis(const Flow& f, const Diagnosis& d);
  // The `stats` object of the stats lines and the report.
  void set_stats(const nlohmann::json& stats);
  // True at most once a second: reading the kernel's counters walks the flow map, so not every poll.
  bool stats_due(uint64_t now_ns);

  std::string render() const { return registry_.render(); }

 private:
  MetricsRegistry registry_;
  MetricsRegistry::Family &up_, &build_info_, &flows_, &unanswered_, &diagnoses_, &hook_live_, &connect_duration_;
  // From the stats object: its key and the family mirroring it.
  std::vector<std::pair<std::string, MetricsRegistry::Family*>> stats_;
  uint64_t next_stats_ns_ = 0;
  std::unique_ptr<MetricsServer> server_;  // last: stops before the registry goes
};

}  // namespace svctrace
