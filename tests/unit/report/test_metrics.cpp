#include <httplib.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "report/metrics.h"

using namespace svctrace;

namespace {

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

// A flow to 172.24.0.1:443, DNATed to 10.0.0.8:6443, decided in `state` after `syns` SYNs.
Flow flow(FlowState state, uint32_t syns) {
  Flow f;
  f.key.proto = IPPROTO_TCP;
  f.key.src = *IpAddr::parse("10.141.13.182");
  f.key.sport = 53742;
  f.key.dst = *IpAddr::parse("172.24.0.1");
  f.key.dport = 443;
  f.dnat_ip = *IpAddr::parse("10.0.0.8");
  f.dnat_port = 6443;
  f.packets_unreplied = syns;
  f.state = state;
  return f;
}

}  // namespace

TEST_CASE("metrics: HELP and TYPE once per family, then its samples", "[metrics]") {
  MetricsRegistry r;
  auto& flows = r.counter("svctrace_flows_total", "Flows decided");
  auto& tracked = r.gauge("svctrace_flows_tracked", "Flows in memory");
  r.counter("svctrace_unused_total", "Nothing yet");
  flows.inc({{"verdict", "answered"}});
  flows.inc({{"verdict", "refused"}});
  flows.inc({{"verdict", "answered"}});
  tracked.set(7);

  CHECK(r.render() ==
        "# HELP svctrace_flows_total Flows decided\n"
        "# TYPE svctrace_flows_total counter\n"
        "svctrace_flows_total{verdict=\"answered\"} 2\n"
        "svctrace_flows_total{verdict=\"refused\"} 1\n"
        "# HELP svctrace_flows_tracked Flows in memory\n"
        "# TYPE svctrace_flows_tracked gauge\n"
        "svctrace_flows_tracked 7\n"
        "# HELP svctrace_unused_total Nothing yet\n"
        "# TYPE svctrace_unused_total counter\n");
}

TEST_CASE("metrics: a histogram's buckets are cumulative, then +Inf, sum and count", "[metrics]") {
  MetricsRegistry r;
  auto& h = r.histogram("connect_seconds", "Time to the first reply", {0.001, 0.01});
  h.observe({{"service", "a"}}, 0.0005);
  h.observe({{"service", "a"}}, 0.001);  // on a bound: counted in it (le)
  h.observe({{"service", "a"}}, 0.5);
  CHECK(r.render() ==
        "# HELP connect_seconds Time to the first reply\n"
        "# TYPE connect_seconds histogram\n"
        "connect_seconds_bucket{service=\"a\",le=\"0.001\"} 2\n"
        "connect_seconds_bucket{service=\"a\",le=\"0.01\"} 2\n"
        "connect_seconds_bucket{service=\"a\",le=\"+Inf\"} 3\n"
        "connect_seconds_sum{service=\"a\"} 0.5015\n"
        "connect_seconds_count{service=\"a\"} 3\n");
  CHECK_THROWS_AS(h.inc({}), std::invalid_argument);
  CHECK_THROWS_AS(h.observe({{"le", "1"}}, 1), std::invalid_argument);
  CHECK_THROWS_AS(r.gauge("g", "").observe({}, 1), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("unsorted", "", {1, 0.5}), std::invalid_argument);
}

TEST_CASE("metrics: counters add up, gauges take the last value", "[metrics]") {
  MetricsRegistry r;
  auto& c = r.counter("c_total", "c");
  auto& g = r.gauge("g", "g");
  c.inc();
  c.inc({}, 4);
  g.set(10);
  g.set(3);
  g.inc({}, -1);  // a gauge may go down
  std::string text = r.render();
  CHECK(text.find("\nc_total 5\n") != std::string::npos);
  CHECK(text.find("\ng 2\n") != std::string::npos);
  CHECK_THROWS_AS(c.inc({}, -1), std::invalid_argument);
}

TEST_CASE("metrics: label values escape backslash, double quote and newline, HELP escapes backslash and newline",
          "[metrics]") {
  MetricsRegistry r;
  r.gauge("m", "a \"quoted\" C:\\path\nsecond line").set({{"a", "say \"hi\""}, {"b", "C:\\dir"}, {"c", "one\ntwo"}}, 1);
  std::string text = r.render();
  CHECK(text.find("# HELP m a \"quoted\" C:\\\\path\\nsecond line\n") != std::string::npos);
  CHECK(text.find("m{a=\"say \\\"hi\\\"\",b=\"C:\\\\dir\",c=\"one\\ntwo\"} 1\n") != std::string::npos);
  // Every line is one line: the newlines were escaped.
  CHECK(count_of(text, "\n") == 3);
}

TEST_CASE("metrics: values", "[metrics]") {
  MetricsRegistry r;
  auto& g = r.gauge("g", "g");
  g.set({{"k", "int"}}, 65536);
  g.set({{"k", "big"}}, 1e15);
  g.set({{"k", "half"}}, 0.5);
  g.set({{"k", "neg"}}, -3);
  g.set({{"k", "inf"}}, std::numeric_limits<double>::infinity());
  g.set({{"k", "nan"}}, std::numeric_limits<double>::quiet_NaN());
  std::string text = r.render();
  CHECK(text.find("g{k=\"int\"} 65536\n") != std::string::npos);
  CHECK(text.find("g{k=\"big\"} 1000000000000000\n") != std::string::npos);
  CHECK(text.find("g{k=\"half\"} 0.5\n") != std::string::npos);
  CHECK(text.find("g{k=\"neg\"} -3\n") != std::string::npos);
  CHECK(text.find("g{k=\"inf\"} +Inf\n") != std::string::npos);
  CHECK(text.find("g{k=\"nan\"} NaN\n") != std::string::npos);
}

TEST_CASE("metrics: names Prometheus would reject are refused", "[metrics]") {
  MetricsRegistry r;
  CHECK_THROWS_AS(r.counter("1st", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("has-dash", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("", "x"), std::invalid_argument);
  auto& ok = r.counter("ns:ok_total", "x");
  CHECK_THROWS_AS(r.gauge("ns:ok_total", "declared twice"), std::invalid_argument);
  CHECK_THROWS_AS(ok.inc({{"bad-label", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(ok.inc({{"__reserved", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(ok.inc({{"a:b", "v"}}), std::invalid_argument);
}

TEST_CASE("metrics: updates from several threads while another renders", "[metrics]") {
  MetricsRegistry r;
  auto& c = r.counter("c_total", "c");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 5000; i++) c.inc({{"t", std::to_string(t % 2)}});
    });
  for (int i = 0; i < 50; i++) r.render();
  for (auto& t : threads) t.join();
  std::string text = r.render();
  CHECK(text.find("c_total{t=\"0\"} 10000\n") != std::string::npos);
  CHECK(text.find("c_total{t=\"1\"} 10000\n") != std::string::npos);
}

TEST_CASE("metrics: --metrics ADDR:PORT", "[metrics]") {
  CHECK(parse_listen_address("127.0.0.1:9100").host == "127.0.0.1");
  CHECK(parse_listen_address("127.0.0.1:9100").port == 9100);
  CHECK(parse_listen_address("0.0.0.0:1").port == 1);
  CHECK(parse_listen_address("[::1]:65535").host == "::1");
  CHECK(parse_listen_address("[::1]:65535").str() == "[::1]:65535");
  CHECK(parse_listen_address("10.0.0.1:80").str() == "10.0.0.1:80");
  CHECK(listen_address_error("127.0.0.1:9100").empty());
  CHECK_THAT(listen_address_error("9100"), Catch::Contains("is not ADDR:PORT"));
  CHECK_THAT(listen_address_error(":9100"), Catch::Contains("is not ADDR:PORT"));
  CHECK_THAT(listen_address_error("127.0.0.1:0"), Catch::Contains("1..65535"));
  CHECK_THAT(listen_address_error("127.0.0.1:65536"), Catch::Contains("1..65535"));
  CHECK_THAT(listen_address_error("127.0.0.1:123456"), Catch::Contains("1..65535"));
  CHECK_THAT(listen_address_error("127.0.0.1:-1"), Catch::Contains("1..65535"));
  CHECK_THAT(listen_address_error("127.0.0.1:"), Catch::Contains("1..65535"));
  CHECK_THAT(listen_address_error("localhost:9100"), Catch::Contains("names are not resolved"));
  CHECK_THAT(listen_address_error("127.0.0.256:9100"), Catch::Contains("not a numeric"));
  CHECK_THAT(listen_address_error("[127.0.0.1]:9100"), Catch::Contains("not a numeric"));
  CHECK_THAT(listen_address_error("::1:9100"), Catch::Contains("[::1]:9100"));
}

TEST_CASE("metrics: the server answers GET /metrics on loopback, 404 elsewhere, a taken port is an error",
          "[metrics]") {
  int scrapes = 0;
  auto server = std::make_unique<MetricsServer>(ListenAddress{"127.0.0.1", 0}, [&scrapes] {
    return "m " + std::to_string(++scrapes) + "\n";
  });
  const uint16_t port = server->port();
  REQUIRE(port != 0);

  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res->body == "m 1\n");
  CHECK(client.Get("/metrics")->body == "m 2\n");
  auto other = client.Get("/");
  REQUIRE(other);
  CHECK(other->status == 404);

  // Not SO_REUSEPORT: a second server on the same port is refused, and says why.
  try {
    MetricsServer second(ListenAddress{"127.0.0.1", port}, [] { return std::string(); });
    FAIL("a second server bound the same port");
  } catch (const MetricsError& e) {
    CHECK_THAT(e.what(), Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(port)) &&
                             Catch::Contains("Address already in use"));
  }

  // Once stopped, the port is free again.
  server.reset();
  CHECK_FALSE(httplib::Client("127.0.0.1", port).Get("/metrics"));
  MetricsServer again(ListenAddress{"127.0.0.1", port}, [] { return std::string("again\n"); });
  CHECK(httplib::Client("127.0.0.1", port).Get("/metrics")->body == "again\n");
}

TEST_CASE("metrics: an address of no interface is an error that says so", "[metrics]") {
  std::ifstream nonlocal("/proc/sys/net/ipv4/ip_nonlocal_bind");
  int allowed = 0;
  if (nonlocal >> allowed && allowed) return;  // this machine lets any address be bound
  // 192.0.2.0/24 is TEST-NET-1: assigned to no host; binding it only asks the local kernel.
  CHECK_THROWS_WITH(MetricsServer(ListenAddress{"192.0.2.1", 9100}, [] { return std::string(); }),
                    Catch::Contains("Cannot assign requested address") &&
                        Catch::Contains("192.0.2.1 is not an address of the network namespace svctrace started in"));
}

TEST_CASE("metrics: svctrace's flows, diagnoses, hooks and stats", "[metrics]") {
  SvctraceMetrics m("1.2.3");
  m.set_hooks(nlohmann::json::parse(R"([{"role":"route","hook":"tp_btf/fib_table_lookup"}])"),
              nlohmann::json::parse(R"([{"role":"route","hook":"fexit/fib_table_lookup","error":"EPERM"}])"));
  Flow unanswered = flow(FlowState::Unanswered, 3);
  Diagnosis d;
  d.verdict = Verdict::AsymmetricSource;
  m.on_diagnosis(unanswered, d);
  m.on_diagnosis(flow(FlowState::Unanswered, 2), d);
  Diagnosis refused;
  refused.verdict = Verdict::Refused;
  m.on_diagnosis(flow(FlowState::Refused, 1), refused);
  Flow answered = flow(FlowState::Answered, 1);
  answered.first_seen_ns = 1'000'000'000;
  answered.reply_ns = answered.first_seen_ns + 3'000'000;  // 3 ms
  m.on_outcome(answered);
  m.set_stats({{"events", 42}, {"ringbuf_drops", 1}, {"flows", 4}, {"flows_evicted", 0},
               {"unknown", 9}});

  std::string text = m.render();
  CHECK_THAT(text, Catch::Contains("svctrace_up 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_build_info{version=\"1.2.3\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_hook_live{role=\"route\",hook=\"tp_btf/fib_table_lookup\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_hook_live{role=\"route\",hook=\"fexit/fib_table_lookup\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_flows_total{verdict=\"asymmetric_source\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_flows_total{verdict=\"refused\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_flows_total{verdict=\"answered\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_diagnoses_total{verdict=\"asymmetric_source\",proto=\"tcp\","
                                   "service=\"172.24.0.1:443\",backend=\"10.0.0.8:6443\"} 2\n"));
  // Refused flows had a reply: their SYN is not counted as unanswered.
  CHECK_THAT(text, Catch::Contains("svctrace_unanswered_syns_total{proto=\"tcp\",service=\"172.24.0.1:443\","
                                   "backend=\"10.0.0.8:6443\"} 5\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_connect_duration_seconds_bucket{proto=\"tcp\",service=\"172.24.0.1:443\","
                                   "backend=\"10.0.0.8:6443\",le=\"0.0025\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_connect_duration_seconds_bucket{proto=\"tcp\",service=\"172.24.0.1:443\","
                                   "backend=\"10.0.0.8:6443\",le=\"0.005\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_connect_duration_seconds_count{proto=\"tcp\",service=\"172.24.0.1:443\","
                                   "backend=\"10.0.0.8:6443\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_events_total 42\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_ringbuf_drops_total 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_flows_tracked 4\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE svctrace_flows_tracked gauge\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE svctrace_ringbuf_drops_total counter\n"));
  CHECK(text.find("unknown") == std::string::npos);

  // A node without Kubernetes names keeps its series as they were.
  CHECK(text.find("service_name") == std::string::npos);
  CHECK(text.find("pod=") == std::string::npos);

  CHECK(m.stats_due(5'000'000'000));
  CHECK_FALSE(m.stats_due(5'500'000'000));
  CHECK(m.stats_due(6'000'000'000));
}

TEST_CASE("metrics: the Service's and the pod's names are labels where the node names them", "[metrics]") {
  SvctraceMetrics m("1.2.3");
  Flow named = flow(FlowState::Unanswered, 2);
  named.service = "default/kubernetes:https";
  named.pod = "default/client";
  Diagnosis d;
  d.verdict = Verdict::AsymmetricSource;
  m.on_diagnosis(named, d);
  std::string text = m.render();
  CHECK_THAT(text, Catch::Contains("svctrace_diagnoses_total{verdict=\"asymmetric_source\",proto=\"tcp\","
                                   "service=\"172.24.0.1:443\",backend=\"10.0.0.8:6443\","
                                   "service_name=\"default/kubernetes:https\",pod=\"default/client\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("svctrace_unanswered_syns_total{proto=\"tcp\",service=\"172.24.0.1:443\","
                                   "backend=\"10.0.0.8:6443\",service_name=\"default/kubernetes:https\"} 2\n"));
}
