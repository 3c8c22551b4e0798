#include <catch2/catch.hpp>

#include <initializer_list>

#include "synthetic_events.h"
#include "fake_routing.h"
#include "correlate/correlator.h"
#include "diagnose/diagnosis.h"
#include "report/output.h"
#include "report/html_report.h"

using namespace svctrace;
using namespace test;
using nlohmann::json;

namespace {
const svc_tuple kOrig = tuple("10.141.13.182", 52946, "172.24.0.1", 443);
const svc_tuple kReply = tuple("10.0.0.8", 6443, "10.141.13.182", 52946);
const svc_tuple kOkOrig = tuple("10.0.0.12", 40000, "172.24.0.1", 443);
const svc_tuple kOkReply = tuple("10.0.0.8", 6443, "10.0.0.12", 40000);
constexpr int kEnslf0 = 2, kEnslf1 = 3;
constexpr uint64_t kStart = 1000 * kMs;  // when tracing started

svc_event reply_to(uint64_t ts, const svc_tuple& t, int ifindex) {
  svc_event e = base(SVC_EV_REPLY, ts, t);
  e.reply.ifindex = ifindex;
  e.reply.ctinfo = 3;
  e.reply.tcp_flags = 0x12;
  return e;
}

// The incident as the tracer sees it, reported the way main.cpp reports it: one answered flow, then
// after a route change one whose SYN goes unanswered (sent at +1 s, retransmitted at +2 s).
json incident_report() {
  Correlator c({1024, 1500 * kMs, 4242});
  c.on_event(route(kStart + 100 * kMs, kOkOrig, 254, kEnslf0, "10.0.0.1"));
  c.on_event(nat(kStart + 100 * kMs, kOkOrig, kOkReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf0));
  c.on_event(reply_to(kStart + 101 * kMs, kOkOrig, kEnslf0));
  c.on_event(route(kStart + 1000 * kMs, kOrig, 254, kEnslf1, "10.141.13.1"));
  c.on_event(nat(kStart + 1000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  c.on_event(nat(kStart + 2000 * kMs, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  c.on_event(retransmit(kStart + 2000 * kMs, kOrig));
  c.tick(kStart + 2001 * kMs);

  FakeRouting routing;
  json diagnoses = json::array(), flows = json::array();
  for (int seen = 1; seen <= 2; seen++) {  // the same cause twice: one group
    json d = diagnosis_json(diagnose(*c.find(FlowKey::from_tuple(kNetns, kOrig)), routing, {Cidr::parse("172.24.0.0/13")}));
    d["confidence"] = "high";
    d["group"] = 1;
    d["count"] = seen;
    diagnoses.push_back(d);
  }
  c.set_verdict(*c.find(FlowKey::from_tuple(kNetns, kOrig)), "asymmetric_source");
  for (const Flow* f : c.flows()) flows.push_back(flow_json(*f, routing, kStart));
  json change = {{"type", "change"}, {"kind", "route"}, {"what", "default via 10.0.0.1 dev enslf0"}, {"deleted", true},
                 {"at_s", 0.8}};
  return {{"svctrace", "0.1.0"},
          {"started_at", "2024-05-02T09:14:03Z"},
          {"duration_s", 3.2},
          {"cidrs", {"172.24.0.0/13"}},
          {"netns", {{"name", "node"}, {"inode", kNetns}}},
          {"hooks", {{{"role", "route"}, {"hook", "tp_btf/fib_table_lookup"}}}},
          {"refused_hooks", json::array()},
          {"flows", flows},
          {"diagnoses", diagnoses},
          {"timeline", {change}},
          {"config",
           {{"routes", {"default via 10.141.13.1 dev enslf1", "10.0.0.0/24 dev enslf0 proto kernel scope link src 10.0.0.12"}},
            {"rules", {{"ipv4", {"0:\tfrom all lookup local", "32766:\tfrom all lookup main"}}, {"ipv6", json::array()}}},
            {"addresses", {"10.0.0.12/24 dev enslf0", "10.141.13.182/24 dev enslf1"}},
            {"rp_filter", {{"enslf0", 0}, {"enslf1", 2}}},
            {"nat_rules", "*nat\n-A OUTPUT -d 172.24.0.1/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.0.0.8:6443\nCOMMIT\n"}}},
          {"stats", {{"events", 9}, {"ringbuf_drops", 0}}}};
}

bool has(const std::string& page, const std::string& what) { return page.find(what) != std::string::npos; }

size_t count(const std::string& page, const std::string& what) {
  size_t n = 0;
  for (size_t pos = page.find(what); pos != std::string::npos; pos = page.find(what, pos + 1)) n++;
  return n;
}

// Checks that the page has each of wants, naming the one it lacks.
void check_has_all(const std::string& page, std::initializer_list<const char*> wants) {
  for (const char* want : wants) {
    INFO(want);
    CHECK(has(page, want));
  }
}

// Every string value of j (not the keys) replaced by s.
void replace_strings(json& j, const std::string& s) {
  if (j.is_string()) j = s;
  if (j.is_structured())
    for (auto& v : j) replace_strings(v, s);
}
}  // namespace

TEST_CASE("flows carry their timestamps for the timeline", "[report]") {
  json r = incident_report();
  const json& failed = r["flows"][1];
  CHECK(failed["first_seen_s"] == 1.0);
  CHECK(failed["packet_after_ms"] == json({0.0, 1000.0}));
  CHECK(failed["retransmit_after_ms"] == json({1000.0}));
  const json& ok = r["flows"][0];
  CHECK(ok["first_seen_s"] == Approx(0.1));
  CHECK(ok["reply"]["after_ms"] == 1.0);
  CHECK(ok["retransmit_after_ms"] == json::array());
  FakeRouting routing;
  Correlator c({1024, 1500 * kMs, 4242});
  c.on_event(nat(kStart, kOrig, kReply, SVC_NAT_POST_ROUTING, kEnslf0, kEnslf1));
  CHECK_FALSE(flow_json(*c.flows()[0], routing).contains("first_seen_s"));  // no origin, no time of day
}

TEST_CASE("the page shows the diagnosis with its evidence and fix, the flows, the timeline and the config", "[report]") {
  std::string page = report_html(incident_report());
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(count(page, "<div class=\"diag") == 1);  // the diagnosis, once for its group
  CHECK(count(page, "<svg") == 1);
  CHECK(count(page, "<circle") == 3 + 1);  // three packets, and the change's number
  CHECK(count(page, "<tr class=") == 2);   // both flows
  check_has_all(page, {
           // the diagnosis, its evidence, how often it was seen, the fix
           ">asymmetric_source</span>", "<code>default via 10.141.13.1 dev enslf1</code> (table main)",
           "<code>10.0.0.12</code> (the address of enslf0)", "the backend cannot answer 10.141.13.182",
           "2 SYNs, 1 retransmit when diagnosed, 1000 ms after the first", "<dt>seen</dt><dd>2 times</dd>", "<dt>confidence</dt><dd>high</dd>",
           "1 cause of failure diagnosed: see below for the route and the command that fixes it.",
           "<code>curl</code> (pid 100)", "<pre>ip route add 172.24.0.0/13 dev enslf0 src 10.0.0.12</pre>",
           // the timeline: one lane for the backend, the failure and the change that preceded it
           "backend 10.0.0.8:6443", "2 flows: 1 answered, 1 failed, first failure at 1.00 s",
           "route deleted: <code>default via 10.0.0.1 dev enslf0</code>",
           // the flow table
           "10.141.13.182:52946 → 172.24.0.1:443", "10.0.0.12:40000 → 172.24.0.1:443",
           // the configuration
           "10.141.13.182/24 dev enslf1", "32766:\tfrom all lookup main", "--to-destination 10.0.0.8:6443",
           "<td>2 loose</td>", "</html>"});
}

TEST_CASE("the services table counts every flow, with the connect times of the answered ones", "[report]") {
  json r = incident_report();
  CHECK_FALSE(has(report_html(r), "<h2>Services</h2>"));  // a report without the rows has no table
  r["services"] = json::parse(R"([
    {"service": "172.24.0.1:443", "backend": "10.0.0.8:6443", "egress_dev": "enslf0", "flows": 2, "answered": 0,
     "failed": 2, "answered_pct": 0.0, "connect_p50_ms": 0.0, "connect_p99_ms": 0.0, "verdict": "asymmetric_source"},
    {"service": "172.24.0.2:80", "service_name": "shop/web:http", "backend": "10.141.13.1:7443", "egress_dev": "enslf1",
     "flows": 1200, "answered": 1200, "failed": 0, "answered_pct": 100.0, "connect_p50_ms": 0.032,
     "connect_p99_ms": 4.096, "verdict": "answered"}])");
  std::string page = report_html(r);
  check_has_all(page, {"<h2>Services</h2>", "<td class=\"num\">1200 (100%)</td>", "<br>shop/web:http",
                           // (under 0.05 ms: not "≤ 0.0 ms")
                           "<td class=\"num\">≤ 0.032 ms</td>", "<td class=\"num\">≤ 4.1 ms</td>",
                           "<tr class=\"bad\"><td class=\"mono\">172.24.0.1:443</td>",
                           "<tr class=\"ok\"><td class=\"mono\">172.24.0.2:80<br>"});
}

TEST_CASE("each backend's lane draws its flows and connect times over time, from its service rows", "[report]") {
  json r = incident_report();
  r["services"] = json::parse(R"([
    {"service": "172.24.0.1:443", "backend": "10.0.0.8:6443", "egress_dev": "enslf0", "flows": 7, "answered": 6,
     "failed": 1, "over_time": {"bucket_s": 1, "answered": [1, 0, 0, 5], "failed": [0, 1, 0, 0],
                                "connect_p50_ms": [0.128, null, null, 1.024], "connect_p99_ms": [0.256, null, null, 4.096]}},
    {"service": "172.24.0.1:443", "backend": "10.0.0.8:6443", "egress_dev": "enslf1", "flows": 1, "answered": 0,
     "failed": 1, "over_time": {"bucket_s": 2, "answered": [0, 0], "failed": [0, 1],
                                "connect_p50_ms": [null, null], "connect_p99_ms": [null, null]}},
    {"service": "172.24.0.1:443", "service_name": "default/kubernetes:https", "backend": "10.0.0.9:6443",
     "egress_dev": "enslf0", "flows": 100, "answered": 100, "failed": 0,
     "over_time": {"bucket_s": 1, "answered": [10, 20, 30, 40], "failed": [0, 0, 0, 0],
                   "connect_p50_ms": [0.512, 0.512, 0.512, 0.512], "connect_p99_ms": [2.048, 2.048, 2.048, 8.192]}}])");
  std::string page = report_html(r);
  CHECK(count(page, "<g class=\"traffic\">") == 2);  // both backends: the one in the flow table, and the other
  CHECK(count(page, "stroke=\"#1565c0\"") == 2 * 2);   // in each, connect p50 and p99
  check_has_all(page, {
           // the lane of the flows in the table counts every flow of its two rows
           "backend 10.0.0.8:6443", "8 flows: 6 answered, 2 failed, first failure at 1.00 s",
           // its rows merged at the wider bucket: 2 s, the failures of both in their buckets
           "0–2 s: 1 answered, 1 failed; connect p50 ≤ 0.13 ms, p99 ≤ 0.26 ms",
           "2–4 s: 5 answered, 1 failed; connect p50 ≤ 1.0 ms, p99 ≤ 4.1 ms", "max 6 / 2 s", "0.13–4.1 ms",
           // the backend whose flows were all answered in the kernel has a lane of its own
           "backend 10.0.0.9:6443", "for default/kubernetes:https", "100 flows: 100 answered, 0 failed",
           "3–4 s: 40 answered, 0 failed; connect p50 ≤ 0.51 ms, p99 ≤ 8.2 ms", "max 40 / 1 s", "0.51–8.2 ms",
           "stroke-dasharray=\"4 3\"", "bars of the flows answered (light green) and failed (light red)"});
}

TEST_CASE("service rows without counts over time draw no bars, and bad ones do not break the page", "[report]") {
  json r = incident_report();
  r["services"] = json::parse(R"([{"service": "172.24.0.2:80", "backend": "10.141.13.1:7443", "flows": 3}])");
  std::string page = report_html(r);
  CHECK_FALSE(has(page, "class=\"traffic\""));
  CHECK_FALSE(has(page, "backend 10.141.13.1:7443"));  // no flow drawn, nothing over time: no lane
  CHECK(has(page, "2 flows: 1 answered, 1 failed"));   // the flow table's lane, as before
  for (const json& over_time : {json("x"), json{{"bucket_s", "x"}}, json{{"bucket_s", 1}, {"answered", "x"}},
                                json{{"bucket_s", 1e-300}, {"answered", {1, -2, nullptr, "x"}}},
                                json{{"bucket_s", 1e300}, {"failed", {3}}, {"connect_p50_ms", {0, -1}}}}) {
    r["services"][0]["over_time"] = over_time;
    std::string bad;
    REQUIRE_NOTHROW(bad = report_html(r));
    CHECK(has(bad, "</html>"));
    CHECK_FALSE(has(bad, "nan\""));  // no coordinate of NaN or infinity
    CHECK_FALSE(has(bad, "inf\""));
  }
}

TEST_CASE("the headline promises a fix only when the diagnoses carry one", "[report]") {
  // A refused or unanswered flow has no routing fix: the headline must not send the reader looking
  // for one (issue 15, item 5).
  json report = incident_report();
  for (auto& d : report["diagnoses"]) d["fix"] = nullptr;
  std::string page = report_html(report);
  CHECK(has(page, "1 cause of failure diagnosed: see below for what was seen, and why it is not a routing fix"));
  CHECK_FALSE(has(page, "the command that fixes it"));
}

TEST_CASE("the page names nothing outside itself", "[report]") {
  std::string page = report_html(incident_report());
  for (const char* external : {"http://", "https://", "src=", "href=", "url(", "@import", "<script", "<link", "<img",
                               "<iframe", "<object", "<embed", "xmlns"})
    CHECK_FALSE(has(page, external));
}

TEST_CASE("every string from the report is escaped", "[report]") {
  json r = incident_report();
  r["flows"][1]["comm"] = "<script>alert(1)</script>";
  r["diagnoses"][0]["comm"] = "<script>alert(1)</script>";
  r["config"]["addresses"][0] = "10.0.0.12/24 dev \"><img src=x onerror=alert(1)>";
  std::string page = report_html(r);
  CHECK_FALSE(has(page, "<script"));
  CHECK_FALSE(has(page, "<img"));
  CHECK(has(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK(has(page, "dev &quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));

  // Whatever every string says, the markup is the same: no string adds or removes a tag.
  json plain = incident_report(), hostile = incident_report();
  replace_strings(plain, "x");
  replace_strings(hostile, "<b onclick='x'>\"&amp;</b></td></svg><!--");
  std::string plain_page = report_html(plain), hostile_page = report_html(hostile);
  CHECK(count(hostile_page, "<") == count(plain_page, "<"));
  CHECK(count(hostile_page, ">") == count(plain_page, ">"));
  CHECK(has(hostile_page, "&lt;b onclick=&#39;x&#39;&gt;&quot;&amp;amp;&lt;/b&gt;&lt;/td&gt;&lt;/svg&gt;&lt;!--"));
}

TEST_CASE("bytes that are not UTF-8, and control characters, cannot reach the page", "[report]") {
  json r = incident_report();
  r["flows"][0]["egress_dev"] = std::string("en\xff\xc0\x80s\x1b[31m\xed\xa0\x80");
  r["flows"][1]["comm"] = "ok-ünï€😀";
  std::string page = report_html(r);
  CHECK(has(page, "en\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbds[31m\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
  CHECK(has(page, "ok-ünï€😀"));
  CHECK_FALSE(has(page, "\x1b"));
}

TEST_CASE("a report with fields missing or of the wrong type is still a page", "[report]") {
  for (const json& r : {json::object(), json(nullptr), json::array(),
                        json{{"flows", 3}, {"diagnoses", "x"}, {"timeline", {{{"at_s", "soon"}}}}, {"config", 1}},
                        json{{"flows", {{{"first_seen_s", 1.0}, {"packet_after_ms", "x"}, {"dnat", 2}}}},
                             {"diagnoses", {{{"evidence", 1}, {"flow", "x"}, {"fix", 3}}}},
                             {"stats", {{"ringbuf_drops", 5}}}}}) {
    std::string page;
    REQUIRE_NOTHROW(page = report_html(r));
    CHECK(has(page, "</html>"));
  }
  CHECK(has(report_html(json::object()), "No failed connection was diagnosed"));
}

TEST_CASE("the report path says HTML or JSON", "[report]") {
  CHECK(wants_html_report("r.html"));
  CHECK(wants_html_report("/tmp/R.HTML"));
  CHECK(wants_html_report("r.htm"));
  CHECK_FALSE(wants_html_report("r.json"));
  CHECK_FALSE(wants_html_report("html"));
  CHECK_FALSE(wants_html_report("r.html.json"));
  CHECK_FALSE(wants_html_report("report"));
  json r = incident_report();
  CHECK(render_report("r.json", r) == r.dump(2) + "\n");
  CHECK(render_report("r.html", r) == report_html(r));
}

TEST_CASE("a flow found in the conntrack table just before the start is drawn from 0 s", "[report]") {
  json r = incident_report();
  r["flows"][0]["first_seen_s"] = -0.001;
  r["flows"][0]["preexisting"] = true;
  r["flows"][0]["packet_after_ms"] = json::array();
  std::string page = report_html(r);
  CHECK(has(page, ">0 s</text>"));
  CHECK_FALSE(has(page, ">-0 s</text>"));
  CHECK(has(page, "<rect x=\""));  // where it was first seen: no packet of it was seen leaving
  CHECK(has(page, "(pre-existing)"));
}

TEST_CASE("a diagnosis names its packets in the --pcap file, with the filter that shows them", "[report]") {
  json r = incident_report();
  CHECK_FALSE(has(report_html(r), "<dt>packets</dt>"));  // no --pcap
  r["pcap"] = "/tmp/flows.pcapng";
  r["diagnoses"][0]["pcap_frames"] = {1, 2, 5};  // the card is its group's first diagnosis
  CHECK(has(report_html(r), "<dt>packets</dt><dd>frames 1 2 5 of <code>/tmp/flows.pcapng</code>; this cause's in "
                            "Wireshark: <code>frame.comment contains &quot;(group 1)&quot;</code></dd>"));
}
