#include "report/metrics.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <thread>

#include "report/output.h"

namespace svctrace {

namespace {

bool valid_name(const std::string& s, bool colons) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Exposition format 0.0.4: in label values \ " and newline are escaped; in HELP, \ and newline.
std::string escape(const std::string& s, bool quotes) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Whole numbers as integers (counts), exactly, as long as a double holds them exactly.
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

}  // namespace

// --- registry -------------------------------------------------------------------------------------

MetricsRegistry::Family::Family(std::mutex& mu, std::string name, Type type, std::string help)
    : mu_(mu), name_(std::move(name)), help_(std::move(help)), type_(type) {}

void MetricsRegistry::Family::inc(const Labels& labels, double by) {
  if (type_ == Type::Counter && !(by >= 0))
    throw std::invalid_argument(fmt::format("counter {} cannot go down (by {})", name_, by));
  update(labels, by, true);
}

void MetricsRegistry::Family::set(const Labels& labels, double value) { update(labels, value, false); }

void MetricsRegistry::Family::check_labels(const Labels& labels) const {
  for (const auto& [name, v] : labels)
    if (!valid_name(name, false) || name.rfind("__", 0) == 0 || (type_ == Type::Histogram && name == "le"))
      throw std::invalid_argument(fmt::format("{}: invalid label name \"{}\"", name_, name));
}

void MetricsRegistry::Family::update(const Labels& labels, double value, bool add) {
  if (type_ == Type::Histogram) throw std::invalid_argument(fmt::format("histogram {} takes observations", name_));
  check_labels(labels);
  std::lock_guard lock(mu_);
  double& sample = samples_[labels];
  sample = add ? sample + value : value;
}

void MetricsRegistry::Family::observe(const Labels& labels, double value, uint64_t times) {
  if (type_ != Type::Histogram) throw std::invalid_argument(fmt::format("{} is not a histogram", name_));
  check_labels(labels);
  std::lock_guard lock(mu_);
  Buckets& b = histograms_[labels];
  b.counts.resize(bounds_.size());
  auto first = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // le: "less than or equal"
  if (first != bounds_.end()) b.counts[static_cast<size_t>(first - bounds_.begin())] += times;
  b.sum += value * static_cast<double>(times);
  b.count += times;
}

namespace {
// {a="1",b="2"}, or nothing without labels; `extra` is one more, already formatted (le="0.5").
std::string label_text(const Labels& labels, const std::string& extra = "") {
  if (labels.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); i++)
    out += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first, escape(labels[i].second, true));
  if (!extra.empty()) out += (labels.empty() ? "" : ",") + extra;
  return out + "}";
}
}  // namespace

void MetricsRegistry::Family::render(std::string& out) const {
  const char* type = type_ == Type::Counter ? "counter" : type_ == Type::Gauge ? "gauge" : "histogram";
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name_, escape(help_, false), name_, type);
  if (type_ == Type::Histogram) return render_histogram(out);
  for (const auto& [labels, value] : samples_) out += name_ + label_text(labels) + ' ' + format_value(value) + '\n';
}

// Each label set's buckets, cumulative as Prometheus reads them, then +Inf, the sum and the count.
void MetricsRegistry::Family::render_histogram(std::string& out) const {
  for (const auto& [labels, b] : histograms_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); i++) {
      cumulative += b.counts[i];
      out += fmt::format("{}_bucket{} {}\n", name_, label_text(labels, fmt::format("le=\"{}\"", format_value(bounds_[i]))),
                         cumulative);
    }
    out += fmt::format("{}_bucket{} {}\n", name_, label_text(labels, "le=\"+Inf\""), b.count);
    out += fmt::format("{}_sum{} {}\n", name_, label_text(labels), format_value(b.sum));
    out += fmt::format("{}_count{} {}\n", name_, label_text(labels), b.count);
  }
}

MetricsRegistry::Family& MetricsRegistry::counter(const std::string& name, const std::string& help) {
  return add(name, Type::Counter, help);
}

MetricsRegistry::Family& MetricsRegistry::gauge(const std::string& name, const std::string& help) {
  return add(name, Type::Gauge, help);
}

MetricsRegistry::Family& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                                    std::vector<double> bounds) {
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end()))
    throw std::invalid_argument(fmt::format("histogram {}: bounds must be ascending", name));
  Family& f = add(name, Type::Histogram, help);
  f.bounds_ = std::move(bounds);
  return f;
}

MetricsRegistry::Family& MetricsRegistry::add(const std::string& name, Type type, const std::string& help) {
  if (!valid_name(name, true)) throw std::invalid_argument(fmt::format("invalid metric name \"{}\"", name));
  std::lock_guard lock(mu_);
  for (const auto& f : families_)
    if (f.name_ == name) throw std::invalid_argument(fmt::format("metric {} declared twice", name));
  return families_.emplace_back(mu_, name, type, help);
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& f : families_) f.render(out);
  return out;
}

// --- the listening address ------------------------------------------------------------------------

std::string ListenAddress::str() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

ListenAddress parse_listen_address(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::invalid_argument(fmt::format("\"{}\" is not ADDR:PORT, e.g. 127.0.0.1:9100 or [::1]:9100", text));
  std::string host = text.substr(0, colon), port_text = text.substr(colon + 1);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  in6_addr buf{};
  if (inet_pton(bracketed ? AF_INET6 : AF_INET, host.c_str(), &buf) != 1) {
    if (!bracketed && inet_pton(AF_INET6, host.c_str(), &buf) == 1)
      throw std::invalid_argument(fmt::format("an IPv6 address goes in brackets: [{}]:{}", host, port_text));
    throw std::invalid_argument(fmt::format(
        "\"{}\" is not a numeric IPv4 or [IPv6] address (names are not resolved), e.g. 127.0.0.1:9100", host));
  }
  unsigned long port = 0;
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
      (port = std::stoul(port_text)) < 1 || port > 65535)
    throw std::invalid_argument(fmt::format("port \"{}\" is not a number in 1..65535", port_text));
  return {host, static_cast<uint16_t>(port)};
}

std::string listen_address_error(const std::string& text) {
  try {
    parse_listen_address(text);
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

// --- the server -----------------------------------------------------------------------------------

namespace {

// cpp-httplib says only that binding failed; binding a socket of our own the same way says why.
std::string bind_error(const ListenAddress& addr) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (addr.host.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    family = s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(addr.port);
    inet_pton(AF_INET6, addr.host.c_str(), &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    family = s4->sin_family = AF_INET;
    s4->sin_port = htons(addr.port);
    inet_pton(AF_INET, addr.host.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::strerror(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = errno;
  close(fd);
  if (rc == 0) return "the socket could not listen";
  switch (err) {
    case EADDRINUSE: return fmt::format("{} (something else listens there)", std::strerror(err));
    case EADDRNOTAVAIL:
      return fmt::format("{} ({} is not an address of the network namespace svctrace started in)",
                         std::strerror(err), addr.host);
    case EACCES: return fmt::format("{} (ports below 1024 need CAP_NET_BIND_SERVICE)", std::strerror(err));
    default: return std::strerror(err);
  }
}

}  // namespace

struct MetricsServer::Impl {
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> done{false};
  uint16_t port = 0;
};

MetricsServer::MetricsServer(const ListenAddress& addr, std::function<std::string()> render) {
  // httplib::Server's constructor ignores SIGPIPE for the whole process. svctrace keeps what it had (a
  // closed stdout ends it); the server's threads block every signal instead, so a scraper that hangs up
  // costs them an EPIPE, and SIGINT, SIGTERM and SIGHUP go to the main loop.
  struct sigaction sigpipe_before {};
  sigaction(SIGPIPE, nullptr, &sigpipe_before);
  impl_ = std::make_unique<Impl>();
  sigaction(SIGPIPE, &sigpipe_before, nullptr);

  httplib::Server& http = impl_->http;
  // Scrapes are rare and small: two workers, one request per connection, and short timeouts, so that a
  // client that connects and says nothing delays svctrace's exit by 2 s at most.
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  http.set_keep_alive_max_count(1);
  http.set_read_timeout(2, 0);
  http.set_write_timeout(2, 0);
  // Not httplib's default SO_REUSEPORT, with which a second svctrace on the same port would bind too
  // and get half the scrapes; SO_REUSEADDR only lets a restart reuse the port at once.
  http.set_socket_options([](int fd) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  });
  http.Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_content(fmt::format("{}: svctrace serves GET /metrics\n", res.status), "text/plain");
  });

  if (addr.port) {
    if (!http.bind_to_port(addr.host, addr.port))
      throw MetricsError(fmt::format("cannot listen on {}: {}", addr.str(), bind_error(addr)));
    impl_->port = addr.port;
  } else {
    int port = http.bind_to_any_port(addr.host);
    if (port <= 0) throw MetricsError(fmt::format("cannot listen on {}: {}", addr.str(), bind_error(addr)));
    impl_->port = static_cast<uint16_t>(port);
  }

  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &before);
  impl_->thread = std::thread([impl = impl_.get()] {
    impl->http.listen_after_bind();
    impl->done = true;
  });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
  // httplib's stop() does nothing to a server that does not run yet: wait until it does, so that the
  // destructor cannot miss it. The thread only has to start for that.
  while (!impl_->http.is_running() && !impl_->done) std::this_thread::yield();
}

MetricsServer::~MetricsServer() {
  impl_->http.stop();
  impl_->thread.join();
}

uint16_t MetricsServer::port() const { return impl_->port; }

// --- svctrace's metrics ---------------------------------------------------------------------------

SvctraceMetrics::SvctraceMetrics(const std::string& version)
    : up_(registry_.gauge("svctrace_up", "1 while svctrace runs")),
      build_info_(registry_.gauge("svctrace_build_info", "svctrace's version, in the label")),
      flows_(registry_.counter("svctrace_flows_total",
                               "Flows decided, by verdict: the diagnosis' (asymmetric_source, reply_dropped, refused, "
                               "unanswered, ...) or the outcome (answered, abandoned)")),
      unanswered_(registry_.counter("svctrace_unanswered_syns_total",
                                    "Packets (TCP SYNs, UDP datagrams) sent without a reply by the flows decided "
                                    "unanswered, per service and backend")),
      diagnoses_(registry_.counter("svctrace_diagnoses_total", "Diagnoses made, by verdict, service and backend")),
      hook_live_(registry_.gauge("svctrace_hook_live",
                                 "1 for the hook serving a role, 0 for one the kernel refused (see the ready line)")),
      // From 100 µs (two network namespaces on one host) to 5 s (a SYN retransmitted twice).
      connect_duration_(registry_.histogram(
          "svctrace_connect_duration_seconds",
          "Time from a flow's first packet to its first reply, for the flows answered, per service and backend",
          {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5})) {
  up_.set(1);
  build_info_.set({{"version", version}}, 1);
  struct Stat {
    const char* key;
    const char* name;
    MetricsRegistry::Type type;
    const char* help;
  };
  using T = MetricsRegistry::Type;
  for (const Stat& s : std::initializer_list<Stat>{
           {"events", "svctrace_events_total", T::Counter, "Kernel events svctrace read"},
           {"events_sent_by_kernel", "svctrace_kernel_events_total", T::Counter,
            "Events the BPF programs produced, read or lost"},
           {"ringbuf_drops", "svctrace_ringbuf_drops_total", T::Counter,
            "Events lost because the ring buffer was full"},
           {"flows", "svctrace_flows_tracked", T::Gauge, "Flows kept in memory (at most --max-flows)"},
           {"flows_evicted", "svctrace_flows_evicted_total", T::Counter,
            "Flows evicted from memory to stay within --max-flows"},
           {"flows_replaced", "svctrace_flows_replaced_total", T::Counter,
            "Decided flows whose tuple a new connection took"},
           {"bpf_flows", "svctrace_bpf_flows_awaiting_reply", T::Gauge,
            "Flows in the kernel's map of flows awaiting their reply"},
           {"bpf_flows_capacity", "svctrace_bpf_flows_capacity", T::Gauge, "Size of that map"},
           {"bpf_flows_evicted", "svctrace_bpf_flows_evicted_total", T::Counter,
            "Flows pushed out of that map by others before their reply"}}) {
    auto& family = s.type == T::Counter ? registry_.counter(s.name, s.help) : registry_.gauge(s.name, s.help);
    family.set(0);
    stats_.emplace_back(s.key, &family);
  }
}

std::unique_ptr<SvctraceMetrics> SvctraceMetrics::serve(const ListenAddress& addr, const std::string& version) {
  auto m = std::make_unique<SvctraceMetrics>(version);
  m->server_ = std::make_unique<MetricsServer>(addr, [m = m.get()] { return m->render(); });
  return m;
}

void SvctraceMetrics::set_hooks(const nlohmann::json& live, const nlohmann::json& refused) {
  for (const auto* list : {&refused, &live})
    for (const auto& h : *list)
      hook_live_.set({{"role", h.value("role", "")}, {"hook", h.value("hook", "")}}, list == &live ? 1 : 0);
}

void SvctraceMetrics::on_outcome(const Flow& f) {
  flows_.inc({{"verdict", to_string(f.state)}});
  if (f.state != FlowState::Answered || f.preexisting || f.reply_ns < f.first_seen_ns) return;  // not timed
  Labels labels = {{"proto", proto_name(f.key.proto)},
                   {"service", endpoint(f.key.dst, f.key.dport)},
                   {"backend", endpoint(f.backend_ip(), f.backend_port())}};
  if (!f.service.empty()) labels.emplace_back("service_name", f.service);
  connect_duration_.observe(labels, static_cast<double>(f.reply_ns - f.first_seen_ns) / 1e9);
}

void SvctraceMetrics::on_counted(const CountedFlows& c) {
  flows_.inc({{"verdict", to_string(FlowState::Answered)}}, static_cast<double>(c.answered));
  Labels labels = {{"proto", proto_name(c.proto)}, {"service", c.service}, {"backend", c.backend}};
  if (!c.service_name.empty()) labels.emplace_back("service_name", c.service_name);
  for (size_t b = 0; b < c.connect_us_log2.size(); b++)
    if (c.connect_us_log2[b])
      connect_duration_.observe(labels, 1.5 * static_cast<double>(uint64_t{1} << b) / 1e6, c.connect_us_log2[b]);
}

void SvctraceMetrics::on_diagnosis(const Flow& f, const Diagnosis& d) {
  flows_.inc({{"verdict", std::string(name(d.verdict))}}, 1.0 + f.joined);
  const std::string proto = proto_name(f.key.proto), service = endpoint(f.key.dst, f.key.dport),
                    backend = endpoint(f.backend_ip(), f.backend_port());
  // Kubernetes' names as labels only where known: a node without them keeps the series it had.
  Labels names;
  if (!f.service.empty()) names.emplace_back("service_name", f.service);
  Labels by_cause = {{"verdict", std::string(name(d.verdict))}, {"proto", proto}, {"service", service}, {"backend", backend}};
  by_cause.insert(by_cause.end(), names.begin(), names.end());
  if (!f.pod.empty()) by_cause.emplace_back("pod", f.pod);
  diagnoses_.inc(by_cause);
  if (f.state == FlowState::Unanswered) {
    Labels by_service = {{"proto", proto}, {"service", service}, {"backend", backend}};
    by_service.insert(by_service.end(), names.begin(), names.end());
    unanswered_.inc(by_service, f.syns());
  }
}

void SvctraceMetrics::set_stats(const nlohmann::json& stats) {
  for (const auto& [key, family] : stats_)
    if (auto it = stats.find(key); it != stats.end() && it->is_number()) family->set(it->get<double>());
}

bool SvctraceMetrics::stats_due(uint64_t now_ns) {
  if (now_ns < next_stats_ns_) return false;
  next_stats_ns_ = now_ns + 1'000'000'000;
  return true;
}

}  // namespace svctrace
