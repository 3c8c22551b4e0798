#include "report/html_report.h"

#include "report/output.h"
#include "report/text.h"
#include "diagnose/verdict.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <string_view>
#include <vector>

namespace svctrace {

using nlohmann::json;

namespace {

// Bounds that keep the page readable (and small) for a trace of many flows; the JSON report has all.
constexpr size_t kMaxLanes = 30;            // backends drawn in the timeline
constexpr size_t kMaxFlowsPerLane = 500;    // flows drawn in one backend's lane
constexpr size_t kMaxAnsweredRows = 2000;   // answered flows listed (every other flow is listed)
constexpr size_t kMaxTrafficBuckets = 240;  // buckets of a row's over_time drawn (svctrace writes 60)

// --- reading the report without trusting its shape ------------------------------------------------

const json kAbsent;

const json& get(const json& j, const char* key) {
  if (!j.is_object()) return kAbsent;
  auto it = j.find(key);
  return it == j.end() ? kAbsent : *it;
}

const json& get(const json& j, const char* key, const char* sub) { return get(get(j, key), sub); }

std::string text(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>();
  if (v.is_number_float()) return fmt::format("{:g}", v.get<double>());
  if (v.is_number() || v.is_boolean()) return v.dump();
  return "";
}

double number(const json& v, double otherwise = 0) { return v.is_number() ? v.get<double>() : otherwise; }

// HTML-escapes s for text and attribute values alike; bytes that are not UTF-8 become U+FFFD and
// control characters other than tab and newline are dropped, so outside input cannot break the page.
std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default:
          if (c >= 0x20 || c == '\t' || c == '\n') out += static_cast<char>(c);
      }
      i++;
      continue;
    }
    // The length of a well-formed sequence (no overlongs, surrogates or code points past U+10FFFF).
    size_t n = (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
    bool ok = n && i + n <= s.size();
    for (size_t k = 1; ok && k < n; k++) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n >= 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0) && !(c == 0xf0 && c1 < 0x90) &&
           !(c == 0xf4 && c1 >= 0x90);
    }
    if (ok) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xef\xbf\xbd";
      i++;
    }
  }
  return out;
}

std::string h(const json& v) { return esc(text(v)); }

// "10.0.0.8:6443", "[fd00::8]:6443"
std::string endpoint(const json& ip, const json& port) {
  std::string a = text(ip);
  if (a.find(':') != std::string::npos) a = "[" + a + "]";
  return port.is_null() ? a : a + ":" + text(port);
}

std::string flow_tuple(const json& flow) {
  return endpoint(get(flow, "src"), get(flow, "sport")) + " → " + endpoint(get(flow, "dst"), get(flow, "dport"));
}

std::string seconds(double s) { return fmt::format("{:.2f} s", s); }
std::string millis(double ms) { return ms < 10 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.0f} ms", ms); }

// --- outcomes ----------------------------------------------------------------------------------------

enum class Outcome { Answered, Failed, Refused, Open };

Outcome outcome_of(const json& flow) {
  std::string v = text(get(flow, "verdict")), s = text(get(flow, "state"));
  if (s == "answered") return Outcome::Answered;
  if (s == "refused" || parse_verdict(v) == Verdict::Refused) return Outcome::Refused;
  if (s == "unanswered" || (!v.empty() && v != s)) return Outcome::Failed;
  return Outcome::Open;  // pending, abandoned
}

// A fixed class per verdict: report strings never reach an attribute unescaped or a class name at all.
const char* verdict_class(const std::string& verdict) {
  if (verdict == "answered") return "ok";
  if (verdict == "refused") return "refused";
  if (verdict == "pending" || verdict == "abandoned") return "open";
  return "bad";
}

const char* outcome_color(Outcome o) {
  switch (o) {
    case Outcome::Answered: return "#2e7d32";
    case Outcome::Failed: return "#c62828";
    case Outcome::Refused: return "#ef6c00";
    case Outcome::Open: return "#757575";
  }
  return "#757575";
}

// --- page pieces ------------------------------------------------------------------------------------

constexpr const char* kStyle = R"(
:root { --ink: #1d2125; --muted: #5f6b76; --line: #d7dde3; --bad: #c62828; --ok: #2e7d32; --warn: #ef6c00; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 0 0 6px; }
h4 { font-size: 13px; margin: 14px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
code, pre, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
pre { margin: 0; padding: 8px 10px; background: #f5f7f9; border: 1px solid var(--line); border-radius: 4px;
  white-space: pre-wrap; word-break: break-word; }
.meta { color: var(--muted); margin: 0; }
.status { margin: 14px 0 0; padding: 10px 14px; border-radius: 4px; font-weight: 600; }
.status.bad { background: #fdecea; color: var(--bad); border-left: 5px solid var(--bad); }
.status.ok { background: #e9f5ea; color: var(--ok); border-left: 5px solid var(--ok); }
.diag { border: 1px solid var(--line); border-left: 5px solid var(--bad); border-radius: 4px; padding: 12px 16px;
  margin: 12px 0; break-inside: avoid; }
.diag.refused { border-left-color: var(--warn); }
.diag .reason { margin: 4px 0 10px; }
.verdict { display: inline-block; padding: 1px 7px; border-radius: 3px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--bad); margin-right: 6px; vertical-align: 1px; }
.verdict.refused { background: var(--warn); }
.verdict.ok { background: var(--ok); }
.verdict.open { background: #757575; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.fix { margin-top: 10px; }
.fix pre { background: #fff8e1; border-color: #f0c36d; font-weight: 600; }
.note { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f5f7f9; font-weight: 600; }
tr.bad td:first-child { box-shadow: inset 4px 0 var(--bad); }
tr.refused td:first-child { box-shadow: inset 4px 0 var(--warn); }
tr.ok td:first-child { box-shadow: inset 4px 0 var(--ok); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th, td.num, td.mono, td.nw { white-space: nowrap; }
.timeline svg { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.timeline svg text { font-family: system-ui, "DejaVu Sans", sans-serif; }
ol.changes { margin: 8px 0 0; padding-left: 0; list-style: none; }
ol.changes li { margin: 2px 0; }
.chg { display: inline-block; min-width: 20px; text-align: center; border-radius: 10px; color: #fff;
  font-size: 11px; font-weight: 700; margin-right: 6px; }
.chg.del { background: var(--bad); } .chg.add { background: #1565c0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 0 24px; }
@media (max-width: 800px) { .cols { grid-template-columns: 1fr; } }
@media print { main { padding: 0; max-width: none; } h2 { break-after: avoid; } .timeline { break-inside: avoid; } }
@page { margin: 14mm; }
)";

// The headline of the diagnoses: how many causes, and whether the cards below hold fixes for them.
std::string diagnoses_headline(size_t groups, size_t with_fix) {
  std::string causes = fmt::format("{} cause{} of failure diagnosed", groups, groups == 1 ? "" : "s");
  if (with_fix == groups)
    return causes + ": see below for the route and the command that fixes " + (groups == 1 ? "it." : "them.");
  if (with_fix == 0) return causes + ": see below for what was seen, and why it is not a routing fix of this node.";
  return fmt::format("{}, {} with a routing fix: see below.", causes, with_fix);
}

std::string summary_section(const json& report, const std::vector<std::pair<const json*, long>>& groups) {
  std::string out = "<header>\n<h1>svctrace report</h1>\n";
  std::string where = get(report, "netns", "name").is_string() ? "network namespace " + text(get(report, "netns", "name"))
                                                             : "the tracer's own network namespace";
  std::vector<std::string> cidrs;
  if (get(report, "cidrs").is_array())
    for (const auto& c : get(report, "cidrs")) cidrs.push_back(text(c));
  out += fmt::format("<p class=\"meta\">Traced {} in {} for {}, started {} (svctrace {}).</p>\n",
                     esc(fmt::format("{}", fmt::join(cidrs, ", "))), esc(where),
                     seconds(number(get(report, "duration_s"))), h(get(report, "started_at")),
                     h(get(report, "svctrace")));
  std::map<std::string, int> by_state;
  const json& flows = get(report, "flows");
  if (flows.is_array())
    for (const auto& f : flows) by_state[text(get(f, "state"))]++;
  std::string states;
  for (const auto& [s, n] : by_state) states += fmt::format("{}{} {}", states.empty() ? "" : ", ", n, esc(s));
  size_t n_flows = flows.is_array() ? flows.size() : 0;
  out += fmt::format("<p class=\"meta\">{} flow{}{}{}.</p>\n", n_flows, n_flows == 1 ? "" : "s",
                     states.empty() ? "" : ": ", states);
  size_t with_fix = std::count_if(groups.begin(), groups.end(), [](const auto& g) { return get(*g.first, "fix").is_string(); });
  if (!groups.empty())
    out += "<p class=\"status bad\">" + diagnoses_headline(groups.size(), with_fix) + "</p>\n";
  else
    out += "<p class=\"status ok\">No failed connection was diagnosed.</p>\n";
  return out + "</header>\n";
}

// The headline of a diagnosis: what happened, as the terminal says it.
std::string what_happened(const json& d) {
  std::optional<Verdict> verdict = parse_verdict(text(get(d, "verdict")));
  const json& ev = get(d, "evidence");
  if (verdict == Verdict::Refused) {
    std::string by = text(get(ev, "answered_by"));
    return "refused" + (by.empty() ? "" : " (" + esc(by == "rst" ? "RST" : by) + ")");
  }
  if (verdict == Verdict::ReplyDropped)
    return fmt::format("reply dropped on {} ({})", h(get(d, "reply_dev")), h(get(d, "drop_reason")));
  bool tcp = text(get(d, "flow", "proto")) == "tcp";
  auto syns = static_cast<long>(number(get(ev, "syns")));
  return fmt::format("no {} after {} {}{} ({})", tcp ? "SYN-ACK" : "reply", syns, tcp ? "SYN" : "packet",
                     syns == 1 ? "" : "s", millis(number(get(ev, "waited_ms"))));
}

std::string fact(const char* name, const std::string& html_value) {
  return fmt::format("<dt>{}</dt><dd>{}</dd>\n", name, html_value);
}

std::string code_or_none(const json& v) { return v.is_null() ? "<span class=\"note\">none</span>" : "<code>" + h(v) + "</code>"; }

// How the diagnosis' flow was routed: the route and rule that chose its source, the devices.
std::string routing_facts(const json& d) {
  const json& flow = get(d, "flow");
  const json& ev = get(d, "evidence");
  std::string out;
  if (!get(d, "source_route").is_null()) {
    std::string route = code_or_none(get(d, "source_route"));
    if (get(d, "source_route_table").is_string()) route += " (table " + h(get(d, "source_route_table")) + ")";
    out += fact("source chosen by", route);
  }
  if (!get(d, "source_rule").is_null()) out += fact("table selected by", code_or_none(get(d, "source_rule")));
  out += fact("source used", "<code>" + h(get(flow, "src")) + "</code>");
  if (!get(d, "expected_source").is_null())
    out += fact("expected source", "<code>" + h(get(d, "expected_source")) + "</code> (the address of " +
                                       h(get(d, "egress_dev")) + ")");
  std::string devices;
  if (get(ev, "route_dev").is_string())
    devices = "the route to the service IP points to <code>" + h(get(ev, "route_dev")) + "</code>";
  if (get(d, "egress_dev").is_string())
    devices += (devices.empty() ? "" : "; ") + ("the packet left by <code>" + h(get(d, "egress_dev")) + "</code>");
  if (!devices.empty()) out += fact("devices", devices);
  const json& addrs = get(ev, "egress_addresses");
  if (addrs.is_array() && !addrs.empty()) {
    std::string list;
    for (const auto& a : addrs) list += (list.empty() ? "" : ", ") + ("<code>" + h(a) + "</code>");
    out += fact("egress addresses", list);
  }
  return out;
}

// The diagnosis' packets in the --pcap file (pcap: its name), as frame numbers, and the Wireshark
// filter that shows those of every flow of its cause (each packet's comment names its group); "" when
// it has none.
std::string packets_fact(const json& d, const std::string& pcap) {
  const json& frames = get(d, "pcap_frames");
  if (!frames.is_array() || frames.empty()) return "";
  std::string list;  // one flow's: its SYNs and what answered or dropped them, a few
  for (size_t i = 0; i < frames.size(); i++) list += (i ? " " : "") + h(frames[i]);
  return fact("packets", fmt::format("frames {} of <code>{}</code>; this cause's in Wireshark: <code>frame.comment "
                                     "contains &quot;(group {})&quot;</code>",
                                     list, esc(pcap), h(get(d, "group"))));
}

// What was seen of the flow, and by whom it was opened.
std::string evidence_facts(const json& d, long count, const std::string& pcap) {
  const json& flow = get(d, "flow");
  const json& ev = get(d, "evidence");
  std::string out;
  auto packets = static_cast<long>(number(get(ev, "packets"))), retransmits = static_cast<long>(number(get(ev, "retransmits")));
  // As they stood when the diagnosis was made: the flows table counts to the flow's end, retransmits
  // that came after included.
  std::string seen = fmt::format("{} {}{}, {} retransmit{} when diagnosed, {} after the first", packets,
                                 text(get(flow, "proto")) == "tcp" ? "SYN" : "packet", packets == 1 ? "" : "s",
                                 retransmits, retransmits == 1 ? "" : "s", millis(number(get(ev, "waited_ms"))));
  if (get(ev, "reply_dev").is_string()) seen += "; reply came on " + h(get(ev, "reply_dev"));
  if (get(ev, "drops").is_object())
    seen += fmt::format("; {} dropped on {} ({})", h(get(ev, "drops", "count")), h(get(ev, "drops", "dev")),
                        h(get(ev, "drops", "reason")));
  out += fact("evidence", seen) + packets_fact(d, pcap);
  if (get(ev, "after_change").is_object()) {
    const json& c = get(ev, "after_change");
    out += fact("started", fmt::format("{} after {} <code>{}</code> was {}", seconds(number(get(c, "seconds_before"))),
                                       h(get(c, "kind")), h(get(c, "what")),
                                       get(c, "deleted") == true ? "deleted" : "added"));
  }
  if (get(d, "service").is_string()) out += fact("service", "<code>" + h(get(d, "service")) + "</code>");
  std::string process = get(d, "comm").is_string() && !text(get(d, "comm")).empty()
                            ? "<code>" + h(get(d, "comm")) + "</code> (pid " + h(get(d, "pid")) + ")"
                            : "<span class=\"note\">unknown (forwarded or not seen)</span>";
  if (get(d, "pod").is_string()) process += " in pod <code>" + h(get(d, "pod")) + "</code>";
  out += fact("process", process);
  out += fact("seen", fmt::format("{} time{}", count, count == 1 ? "" : "s"));
  std::string confidence = h(get(d, "confidence"));
  if (get(d, "confidence_reason").is_string()) confidence += ": " + h(get(d, "confidence_reason"));
  if (!confidence.empty()) out += fact("confidence", confidence);
  return out;
}

// The fix, what it would break, and how to keep it.
std::string fix_block(const json& d) {
  std::string out;
  if (get(d, "fix").is_string()) {
    out += "<div class=\"fix\"><h4>Fix</h4><pre>" + h(get(d, "fix")) + "</pre>";
    const json& breaks = get(d, "fix_would_break");
    if (breaks.is_array() && !breaks.empty()) {
      std::string list;
      for (const auto& b : breaks) list += (list.empty() ? "" : ", ") + h(b);
      out += "<p class=\"note\">Only this service IP: a route for the whole CIDR would break " + list + ".</p>";
    }
    if (get(d, "persistent_fix").is_object())
      out += "<h4>To keep it across reboots (" + h(get(d, "persistent_fix", "tool")) + ")</h4><pre>" +
             h(get(d, "persistent_fix", "how")) + "</pre>";
    out += "</div>\n";
  } else {
    out += "<p class=\"note\">No routing fix: this is not a routing problem of this node.</p>\n";
  }
  return out;
}

std::string diagnosis_card(const json& d, long count, const std::string& pcap) {
  std::string verdict = text(get(d, "verdict"));
  const json& flow = get(d, "flow");
  std::string head = esc(text(get(flow, "proto")) + " " + flow_tuple(flow));
  if (!get(d, "dnat").is_null()) head += " (DNAT " + esc(endpoint(get(d, "dnat", "ip"), get(d, "dnat", "port"))) + ")";
  if (get(d, "egress_dev").is_string()) head += " out " + h(get(d, "egress_dev"));
  std::string out = fmt::format("<div class=\"diag {}\">\n<h3><span class=\"verdict {}\">{}</span>{}: {}</h3>\n",
                                verdict_class(verdict), verdict_class(verdict), esc(verdict), head, what_happened(d));
  out += "<p class=\"reason\">" + h(get(d, "reason")) + ".</p>\n<dl class=\"facts\">\n";
  out += routing_facts(d) + evidence_facts(d, count, pcap) + "</dl>\n";
  return out + fix_block(d) + "</div>\n";
}

// One card per cause: the diagnoses of one group share verdict, service, backend and fix.
std::string diagnoses_section(const std::vector<std::pair<const json*, long>>& groups, const std::string& pcap) {
  std::string out = "<section id=\"diagnoses\">\n<h2>Diagnoses</h2>\n";
  if (groups.empty()) out += "<p class=\"note\">None: every flow was answered, or is still open.</p>\n";
  for (const auto& [d, count] : groups) out += diagnosis_card(*d, count, pcap);
  return out + "</section>\n";
}

std::vector<std::pair<const json*, long>> group_diagnoses(const json& report) {
  std::vector<std::pair<const json*, long>> groups;
  std::map<std::string, size_t> index;  // group id -> position in groups
  const json& ds = get(report, "diagnoses");
  if (!ds.is_array()) return groups;
  for (const auto& d : ds) {
    const json& g = get(d, "group");
    std::string id = g.is_null() ? fmt::format("#{}", groups.size()) : text(g);
    auto [it, fresh] = index.try_emplace(id, groups.size());
    if (fresh) groups.push_back({&d, 0});
    groups[it->second].second = std::max(groups[it->second].second + 1, static_cast<long>(number(get(d, "count"))));
  }
  return groups;
}

// --- the timeline ----------------------------------------------------------------------------------

// A backend's flows over time, from its rows of the report's services (their over_time): answered and
// failed per bucket, summed over its services and egress devices, and the highest of their connect
// p50 and p99 (quantiles of several rows cannot be merged, only bounded).
struct Traffic {
  double bucket_s = 0;                                  // 0: no counts over time
  std::vector<double> answered, failed, p50_ms, p99_ms;  // p50, p99: NAN where nothing was answered
};

struct Lane {
  std::string backend;                  // "10.0.0.8:6443", or the service itself when not DNAT'd
  bool dnat = true;
  std::vector<std::string> services;    // "tcp 172.24.0.1:443"
  std::vector<const json*> flows;
  size_t total = 0, failed = 0, answered = 0;
  double first_failure = NAN;
  std::vector<const json*> rows;  // its rows of the report's services: every flow, counted
  Traffic traffic;
};

void add_unique(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

struct Scale {
  double t0, t1, left, width;
  double x(double t) const { return left + (t - t0) / (t1 - t0) * width; }
};

double nice_step(double span) {
  double raw = span / 8, mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

std::string svg_flow(const json& f, double t, const Scale& sc, double y) {
  Outcome o = outcome_of(f);
  const char* color = outcome_color(o);
  double end = t;
  auto later = [&](const json& ms) { if (ms.is_number()) end = std::max(end, t + ms.get<double>() / 1000); };
  later(get(f, "decided_after_ms"));
  later(get(f, "reply", "after_ms"));
  for (const char* times : {"packet_after_ms", "retransmit_after_ms"})
    if (get(f, times).is_array())
      for (const auto& ms : get(f, times)) later(ms);
  std::string title = esc(text(get(f, "flow", "proto")) + " " + flow_tuple(get(f, "flow")) + ": " +
                          text(get(f, "state")) + (text(get(f, "verdict")) != text(get(f, "state"))
                                                       ? " (" + text(get(f, "verdict")) + ")" : ""));
  std::string out = "<g><title>" + title + "</title>";
  double y_pkt = y + 14, y_rtx = y + 30, y_rep = y + 46;
  out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"2\" "
                     "stroke-opacity=\".45\"/>",
                     sc.x(t), y_pkt, std::max(sc.x(end), sc.x(t) + 1), y_pkt, color);
  const json& packets = get(f, "packet_after_ms");
  if (packets.is_array() && !packets.empty()) {
    for (const auto& p : packets)
      out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/>", sc.x(t + number(p) / 1000),
                         y_pkt, color);
  } else {  // known from the conntrack table (or its packets were not seen): where it was first seen
    out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"7\" height=\"7\" fill=\"{}\"/>", sc.x(t) - 3.5,
                       y_pkt - 3.5, color);
  }
  const json& retx = get(f, "retransmit_after_ms");
  if (retx.is_array())
    for (const auto& r : retx) {
      double x = sc.x(t + number(r) / 1000);
      out += fmt::format("<path d=\"M{:.1f} {:.1f} l5 9 h-10 z\" fill=\"#c62828\"/>", x, y_rtx - 5);
    }
  if (get(f, "reply", "after_ms").is_number()) {
    double x = sc.x(t + number(get(f, "reply", "after_ms")) / 1000);
    const char* c = o == Outcome::Answered ? "#2e7d32" : "#ef6c00";
    out += fmt::format("<path d=\"M{:.1f} {:.1f} l5 5 l-5 5 l-5 -5 z\" fill=\"{}\"/>", x, y_rep - 5, c);
  }
  return out + "</g>";
}

// What the timeline draws: a lane per backend with its flows, the routing changes, and the time span.
struct Timeline {
  std::vector<Lane> lanes;
  std::map<std::string, size_t> lane_of;  // backend -> index in lanes
  std::vector<const json*> changes;
  size_t lanes_left_out = 0, flows_left_out = 0;
  double t_min = 0, t_max = 0;
};

// The lane of backend key ("IP:port"), made if new; null once kMaxLanes lanes are drawn and key has none.
Lane* lane_named(Timeline& tl, const std::string& key, bool dnat) {
  auto [it, fresh] = tl.lane_of.try_emplace(key, tl.lanes.size());
  if (fresh) {
    if (tl.lanes.size() >= kMaxLanes) {
      tl.lane_of.erase(it);
      tl.lanes_left_out++;
      return nullptr;
    }
    Lane& fresh_lane = tl.lanes.emplace_back();
    fresh_lane.backend = key;
    fresh_lane.dnat = dnat;
  }
  return &tl.lanes[it->second];
}

// The lane of flow f's backend (the DNAT target, or the service when not DNAT'd).
Lane* lane_for(Timeline& tl, const json& f) {
  const json& dnat = get(f, "dnat");
  std::string key = dnat.is_object() ? endpoint(get(dnat, "ip"), get(dnat, "port"))
                                     : endpoint(get(f, "flow", "dst"), get(f, "flow", "dport"));
  return lane_named(tl, key, dnat.is_object());
}

// Counts flow f, first seen at t, in its lane, and draws it there unless the lane is full.
void add_flow(Timeline& tl, const json& f, double t) {
  Lane* lane = lane_for(tl, f);
  if (!lane) return;
  add_unique(lane->services, text(get(f, "flow", "proto")) + " " + endpoint(get(f, "flow", "dst"), get(f, "flow", "dport")));
  lane->total++;
  Outcome o = outcome_of(f);
  if (o == Outcome::Answered) lane->answered++;
  if (o == Outcome::Failed || o == Outcome::Refused) {
    lane->failed++;
    if (std::isnan(lane->first_failure)) lane->first_failure = t;
  }
  if (lane->flows.size() >= kMaxFlowsPerLane) {
    tl.flows_left_out++;
    return;
  }
  lane->flows.push_back(&f);
  tl.t_min = std::min(tl.t_min, t);
  tl.t_max = std::max(tl.t_max, t + number(get(f, "decided_after_ms")) / 1000);
  tl.t_max = std::max(tl.t_max, t + number(get(f, "reply", "after_ms")) / 1000);
}

// Adds series (an array of a row's over_time, buckets of width w s) into into (buckets of width
// into_w >= w), summed, or for a quantile the highest.
void merge_series(const json& series, double w, double into_w, std::vector<double>& into, bool quantile) {
  if (!series.is_array()) return;
  for (size_t i = 0; i < series.size() && i < kMaxTrafficBuckets; i++) {
    if (!series[i].is_number() || series[i].get<double>() < 0) continue;  // null: nothing answered in it
    const double v = series[i].get<double>();
    const auto j = static_cast<size_t>(static_cast<double>(i) * w / into_w + 1e-9);
    if (into.size() <= j) into.resize(j + 1, quantile ? NAN : 0.0);
    into[j] = !quantile ? into[j] + v : std::isnan(into[j]) ? v : std::max(into[j], v);
  }
}

// The lane's rows' counts over time, at the widest of their bucket widths (svctrace writes one width
// for every row; a report made otherwise still draws).
Traffic traffic_of(const std::vector<const json*>& rows) {
  Traffic t;
  for (const json* r : rows) t.bucket_s = std::max(t.bucket_s, number(get(*r, "over_time", "bucket_s")));
  if (!(t.bucket_s > 0)) return {};
  for (const json* r : rows) {
    const json& ot = get(*r, "over_time");
    const double w = number(get(ot, "bucket_s"));
    if (!(w > 0)) continue;
    merge_series(get(ot, "answered"), w, t.bucket_s, t.answered, false);
    merge_series(get(ot, "failed"), w, t.bucket_s, t.failed, false);
    merge_series(get(ot, "connect_p50_ms"), w, t.bucket_s, t.p50_ms, true);
    merge_series(get(ot, "connect_p99_ms"), w, t.bucket_s, t.p99_ms, true);
  }
  return t;
}

// Each row of the report's services joins its backend's lane, whose title then counts every flow, not
// only those in the flow table; a backend with counts over time but no flow in the table (its flows
// were all answered, counted in the kernel) gets a lane of its own.
void add_service_rows(Timeline& tl, const json& report) {
  const json& rows = get(report, "services");
  if (!rows.is_array()) return;
  for (const auto& r : rows) {
    const std::string backend = text(get(r, "backend")), service = text(get(r, "service"));
    if (backend.empty() || (!tl.lane_of.count(backend) && !get(r, "over_time").is_object())) continue;
    Lane* lane = lane_named(tl, backend, backend != service);
    if (!lane) continue;
    if (lane->flows.empty()) add_unique(lane->services, get(r, "service_name").is_string() ? text(get(r, "service_name")) : service);
    lane->rows.push_back(&r);
  }
  for (Lane& lane : tl.lanes) {
    if (lane.rows.empty()) continue;
    lane.total = lane.answered = lane.failed = 0;
    for (const json* r : lane.rows) {
      lane.total += static_cast<size_t>(number(get(*r, "flows")));
      lane.answered += static_cast<size_t>(number(get(*r, "answered")));
      lane.failed += static_cast<size_t>(number(get(*r, "failed")));
    }
    lane.traffic = traffic_of(lane.rows);
  }
}

Timeline collect_timeline(const json& report) {
  Timeline tl;
  tl.t_max = number(get(report, "duration_s"));
  const json& flows = get(report, "flows");
  if (flows.is_array())
    for (const auto& f : flows)
      if (get(f, "first_seen_s").is_number()) add_flow(tl, f, get(f, "first_seen_s").get<double>());
  const json& changes = get(report, "timeline");
  if (changes.is_array())
    for (const auto& c : changes)
      if (get(c, "at_s").is_number()) {
        tl.changes.push_back(&c);
        tl.t_max = std::max(tl.t_max, number(get(c, "at_s")));
      }
  add_service_rows(tl, report);
  return tl;
}

// Where things go in the picture.
struct Frame {
  static constexpr double W = 1000, left = 90, right = 24;
  static constexpr double tracks_h = 78;   // a lane's title and its three tracks
  static constexpr double traffic_h = 46;  // under them, its counts over time, when the report has them
  double top;      // room for the changes' numbers above the lanes
  double lane_h;   // one lane
  double lanes_h;  // all the lanes
  Scale sc;
};

// Alternate lanes shaded, then the time axis: grid lines, labels below the lanes.
std::string svg_background(const Frame& fr, size_t lanes) {
  std::string svg;
  for (size_t i = 1; i < lanes; i += 2)
    svg += fmt::format("<rect x=\"0\" y=\"{:.0f}\" width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#f5f7f9\"/>",
                       fr.top + static_cast<double>(i) * fr.lane_h, fr.W, fr.lane_h);
  const Scale& sc = fr.sc;
  double step = nice_step(sc.t1 - sc.t0);
  for (double t = std::ceil(sc.t0 / step) * step; t <= sc.t1 + 1e-9; t += step) {
    double x = sc.x(t);
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.0f}\" x2=\"{:.1f}\" y2=\"{:.0f}\" stroke=\"#e3e7eb\"/>", x, fr.top, x,
                       fr.top + fr.lanes_h);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.0f}\" font-size=\"11\" fill=\"#5f6b76\" text-anchor=\"middle\">{:g} s</text>",
                       x, fr.top + fr.lanes_h + 16, std::round(t * 1000) / 1000 + 0.0);  // + 0.0: no "-0 s"
  }
  return svg;
}

// One line over the lane: the backend, the services DNAT'd to it, and how its flows went.
std::string lane_title(const Lane& lane, double y) {
  std::string services = fmt::format("{}", fmt::join(lane.services.begin(),
                                                     lane.services.begin() + std::min<size_t>(lane.services.size(), 3), ", "));
  if (lane.services.size() > 3) services += ", …";
  std::string summary = fmt::format("{} flow{}: {} answered, {} failed", lane.total, lane.total == 1 ? "" : "s",
                                    lane.answered, lane.failed);
  if (!std::isnan(lane.first_failure)) summary += fmt::format(", first failure at {:.2f} s", lane.first_failure);
  return fmt::format("<text x=\"8\" y=\"{:.0f}\" font-size=\"13\"><tspan font-weight=\"600\">{}</tspan>"
                     "<tspan fill=\"#5f6b76\">  {}  ·  </tspan><tspan fill=\"{}\">{}</tspan></text>",
                     y + 17, esc(lane.dnat ? "backend " + lane.backend : lane.backend + " (no DNAT)"),
                     esc(lane.dnat ? "for " + services : services), lane.failed ? "#c62828" : "#2e7d32", esc(summary));
}

// "0.016", "0.51", "4.1", "131": a connect time in ms, short enough for the lane's margin.
std::string short_ms(double ms) {
  return ms < 1 ? fmt::format("{:.2g}", ms) : ms < 10 ? fmt::format("{:.1f}", ms) : fmt::format("{:.0f}", ms);
}

double at(const std::vector<double>& v, size_t i, double otherwise) { return i < v.size() ? v[i] : otherwise; }

// Bars of a lane's flows per bucket, from its top to bottom: answered light green, failed light red
// on them, scaled to the lane's busiest bucket (busiest: its count); each names its numbers on hover.
std::string traffic_bars(const Scale& sc, const Traffic& t, double top, double bottom, double busiest) {
  std::string svg;
  const size_t n = std::max(t.answered.size(), t.failed.size());
  for (size_t i = 0; i < n; i++) {
    const double a = at(t.answered, i, 0), f = at(t.failed, i, 0), t0 = static_cast<double>(i) * t.bucket_s;
    if (t0 >= sc.t1) break;
    if (a + f <= 0) continue;
    const double x0 = sc.x(std::max(t0, sc.t0)), x1 = sc.x(std::min(t0 + t.bucket_s, sc.t1));
    const double w = std::max(x1 - x0 - 1, 1.0), ha = a / busiest * (bottom - top), hf = f / busiest * (bottom - top);
    std::string title = fmt::format("{:g}–{:g} s: {:g} answered, {:g} failed", t0, t0 + t.bucket_s, a, f);
    if (!std::isnan(at(t.p50_ms, i, NAN)))
      title += fmt::format("; connect p50 ≤ {} ms, p99 ≤ {} ms", short_ms(at(t.p50_ms, i, 0)), short_ms(at(t.p99_ms, i, 0)));
    auto bar = [&](double bar_bottom, double height, const char* color) {
      return height > 0 ? fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>",
                                      x0, bar_bottom - height, w, height, color)
                        : "";
    };
    svg += "<g><title>" + esc(title) + "</title>" + bar(bottom, ha, "#a5d6a7") + bar(bottom - ha, hf, "#ef9a9a") + "</g>";
  }
  return svg;
}

// A stepped line of a lane's connect times per bucket (ms, NAN: none), level across each bucket (a
// bucket's time is one for all of it, and a bucket alone between gaps still shows), on a log2 scale
// from lo (at bottom) to hi (at top); broken where a bucket had no answer.
std::string latency_line(const Scale& sc, const std::vector<double>& ms, double bucket_s, double lo, double hi,
                         double top, double bottom, const char* dash) {
  std::string path;
  bool joined = false;  // the previous bucket had a level
  for (size_t i = 0; i < ms.size(); i++) {
    const double t0 = static_cast<double>(i) * bucket_s;
    if (t0 >= sc.t1 || std::isnan(ms[i]) || ms[i] <= 0) {
      joined = false;
      continue;
    }
    const double share = hi > lo ? std::log2(ms[i] / lo) / std::log2(hi / lo) : 0.5;
    const double y = bottom - share * (bottom - top);
    path += fmt::format("{}{:.1f} {:.1f} L{:.1f} {:.1f}", joined ? " L" : " M", sc.x(std::max(t0, sc.t0)), y,
                        sc.x(std::min(t0 + bucket_s, sc.t1)), y);
    joined = true;
  }
  if (path.empty()) return "";
  return fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\" stroke-linecap=\"round\"{}/>",
                     path, dash);
}

// Under a lane's tracks (from top): its flows per bucket of time as bars and its connect p50 (solid)
// and p99 (dashed) as lines, the scales of both named in the margin.
std::string svg_traffic(const Frame& fr, const Traffic& t, double top) {
  const double bar_top = top + 4, bottom = top + Frame::traffic_h - 2;
  double busiest = 0, lo = INFINITY, hi = 0;
  for (size_t i = 0; i < std::max(t.answered.size(), t.failed.size()); i++)
    busiest = std::max(busiest, at(t.answered, i, 0) + at(t.failed, i, 0));
  for (const auto* series : {&t.p50_ms, &t.p99_ms})
    for (double ms : *series)
      if (ms > 0) lo = std::min(lo, ms), hi = std::max(hi, ms);
  std::string svg = fmt::format("<g class=\"traffic\"><line x1=\"{:.0f}\" y1=\"{:.1f}\" x2=\"{:.0f}\" y2=\"{:.1f}\" "
                                "stroke=\"#cfd6dc\"/>",
                                fr.left, bottom, fr.W - fr.right, bottom);
  auto label = [&](double dy, int size, const char* color, const std::string& html) {
    svg += fmt::format("<text x=\"{:.0f}\" y=\"{:.1f}\" font-size=\"{}\" fill=\"{}\" text-anchor=\"end\">{}</text>",
                       fr.left - 8, top + dy, size, color, html);
  };
  label(10, 10, "#2e7d32", "answered");
  label(20, 9, "#8a949d", esc(fmt::format("max {:g} / {:g} s", busiest, t.bucket_s)));
  label(32, 10, "#1565c0", "connect");
  label(42, 9, "#8a949d", hi > 0 ? esc(fmt::format("{}–{} ms", short_ms(lo), short_ms(hi))) : "none answered");
  if (busiest > 0) svg += traffic_bars(fr.sc, t, bar_top, bottom, busiest);
  if (hi > 0) {
    svg += latency_line(fr.sc, t.p50_ms, t.bucket_s, lo, hi, bar_top, bottom - 4, "");
    svg += latency_line(fr.sc, t.p99_ms, t.bucket_s, lo, hi, bar_top, bottom - 4, " stroke-dasharray=\"4 3\"");
  }
  return svg + "</g>";
}

// The i-th lane: its title, its three tracks, its flows.
std::string svg_lane(const Frame& fr, const Lane& lane, size_t i) {
  double y = fr.top + static_cast<double>(i) * fr.lane_h;
  std::string svg = lane_title(lane, y);
  const double track_y = y + 18;
  const char* tracks[] = {"packets", "retransmits", "replies"};
  for (int k = 0; k < 3; k++)
    svg += fmt::format("<line x1=\"{:.0f}\" y1=\"{:.0f}\" x2=\"{:.0f}\" y2=\"{:.0f}\" stroke=\"#cfd6dc\" "
                       "stroke-dasharray=\"2 3\"/><text x=\"{:.0f}\" y=\"{:.0f}\" font-size=\"10\" fill=\"#8a949d\" "
                       "text-anchor=\"end\">{}</text>",
                       fr.left, track_y + 14 + 16 * k, fr.W - fr.right, track_y + 14 + 16 * k, fr.left - 8,
                       track_y + 17.5 + 16 * k, tracks[k]);
  if (lane.traffic.bucket_s > 0) svg += svg_traffic(fr, lane.traffic, y + Frame::tracks_h - 6);
  for (const json* f : lane.flows) svg += svg_flow(*f, number(get(*f, "first_seen_s")), fr.sc, track_y);
  return svg;
}

// Routing changes across every lane, numbered at the top: their lines in the picture (svg), and the
// list under it.
void draw_changes(const Frame& fr, const std::vector<const json*>& changes, std::string& svg, std::string& list) {
  for (size_t i = 0; i < changes.size(); i++) {
    const json& c = *changes[i];
    bool deleted = get(c, "deleted") == true;
    const char* color = deleted ? "#c62828" : "#1565c0";
    double x = fr.sc.x(number(get(c, "at_s")));
    std::string what = text(get(c, "kind")) + (deleted ? " deleted: " : " added: ") + text(get(c, "what"));
    svg += fmt::format("<g><title>{}</title><line x1=\"{:.1f}\" y1=\"{:.0f}\" x2=\"{:.1f}\" y2=\"{:.0f}\" stroke=\"{}\" "
                       "stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/><circle cx=\"{:.1f}\" cy=\"{:.0f}\" r=\"9\" "
                       "fill=\"{}\"/><text x=\"{:.1f}\" y=\"{:.0f}\" font-size=\"10\" font-weight=\"700\" fill=\"#fff\" "
                       "text-anchor=\"middle\">{}</text></g>",
                       esc(what), x, fr.top - 6, x, fr.top + fr.lanes_h, color, x, fr.top - 16, color, x, fr.top - 12.5,
                       i + 1);
    list += fmt::format("<li><span class=\"chg {}\">{}</span>{} · {} {}: <code>{}</code></li>\n", deleted ? "del" : "add",
                        i + 1, seconds(number(get(c, "at_s"))), h(get(c, "kind")), deleted ? "deleted" : "added",
                        h(get(c, "what")));
  }
}

// Whether a lane has counts over time: then every lane has room for them.
bool has_traffic(const Timeline& tl) {
  return std::any_of(tl.lanes.begin(), tl.lanes.end(), [](const Lane& l) { return l.traffic.bucket_s > 0; });
}

// The picture of tl, and the list of its changes.
std::string timeline_picture(Timeline& tl) {
  if (tl.t_max - tl.t_min < 0.5) tl.t_max = tl.t_min + 0.5;
  const double lane_h = Frame::tracks_h + (has_traffic(tl) ? Frame::traffic_h : 0);
  Frame fr{tl.changes.empty() ? 10.0 : 34.0, lane_h, std::max<double>(tl.lanes.size(), 1) * lane_h,
           Scale{tl.t_min, tl.t_max + (tl.t_max - tl.t_min) * 0.02, Frame::left, Frame::W - Frame::left - Frame::right}};
  double H = fr.top + fr.lanes_h + 30;
  std::string svg = fmt::format(
      "<svg viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" aria-label=\"timeline of the flows per backend\">", fr.W, H);
  svg += svg_background(fr, tl.lanes.size());
  for (size_t i = 0; i < tl.lanes.size(); i++) svg += svg_lane(fr, tl.lanes[i], i);
  if (tl.lanes.empty())
    svg += fmt::format("<text x=\"{:.0f}\" y=\"{:.0f}\" font-size=\"12\" fill=\"#5f6b76\">no flows to the service CIDRs</text>",
                       fr.left, fr.top + fr.lane_h / 2);
  std::string list;
  draw_changes(fr, tl.changes, svg, list);
  std::string out = svg + "</svg>\n";
  if (!list.empty()) out += "<ol class=\"changes\">\n" + list + "</ol>\n";
  return out;
}

std::string timeline_section(const json& report) {
  std::string out = "<section id=\"timeline\" class=\"timeline\">\n<h2>Timeline</h2>\n";
  Timeline tl = collect_timeline(report);
  if (tl.lanes.empty() && tl.changes.empty())
    return out + "<p class=\"note\">Nothing happened to draw: no flows, no routing changes.</p>\n</section>\n";
  out += "<p class=\"note\">Each backend (the DNAT target) in its own lane, against seconds since tracing started. "
         "Dots are the packets that left (SYNs, for TCP) until a reply came, triangles the kernel's SYN "
         "retransmits, diamonds the first reply; a line spans each flow from its first packet to its last, or its verdict. Green: answered, "
         "red: unanswered, orange: refused. Numbered lines are route, rule and address changes.";
  if (has_traffic(tl))
    out += " Under each lane's tracks, every flow to the backend counted per bucket of time (those answered "
           "in the kernel included): bars of the flows answered (light green) and failed (light red) first "
           "seen in the bucket, scaled to the lane's busiest bucket, and blue lines of the connect time's p50 "
           "(solid) and p99 (dashed), log2 upper bounds on a log scale (the highest of the backend's services).";
  out += "</p>\n";
  out += timeline_picture(tl);
  if (tl.lanes_left_out || tl.flows_left_out)
    out += fmt::format("<p class=\"note\">Not drawn, to keep the picture readable: {}, {} "
                       "(the flow table and the JSON report have them).</p>\n",
                       counted(tl.lanes_left_out, "more backend"), counted(tl.flows_left_out, "more flow"));
  return out + "</section>\n";
}

// --- the services ----------------------------------------------------------------------------------

// Every flow counted, per service -> backend -> egress device, the failing first: the healthy traffic
// the flow table cannot list on a busy node.
std::string services_section(const json& report) {
  const json& rows = get(report, "services");
  if (!rows.is_array() || rows.empty()) return "";
  std::string out = "<section id=\"services\">\n<h2>Services</h2>\n"
                    "<p class=\"note\">Every flow seen, counted per service, backend and egress device. Connect "
                    "times run from a flow's first packet to its first reply, the upper bounds of log2 buckets "
                    "(within a factor of two).</p>\n<table>\n<thead><tr><th>Service</th><th>Backend</th><th>Egress</th>"
                    "<th class=\"num\">Flows</th><th class=\"num\">Answered</th><th class=\"num\">Failed</th>"
                    "<th class=\"num\">Connect p50</th><th class=\"num\">p99</th><th>Verdict</th></tr></thead>\n<tbody>\n";
  for (const auto& r : rows) {
    std::string verdict = text(get(r, "verdict"));
    bool timed = number(get(r, "answered")) > 0;
    std::string name = get(r, "service_name").is_string() ? "<br>" + h(get(r, "service_name")) : "";
    out += fmt::format(
        "<tr class=\"{}\"><td class=\"mono\">{}{}</td><td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{} ({:.0f}%)</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td><span class=\"verdict {}\">{}</span></td></tr>\n",
        verdict.empty() ? "open" : verdict_class(verdict), h(get(r, "service")), name, h(get(r, "backend")),
        h(get(r, "egress_dev")), h(get(r, "flows")), h(get(r, "answered")), number(get(r, "answered_pct")),
        h(get(r, "failed")), timed ? "≤ " + short_ms(number(get(r, "connect_p50_ms"))) + " ms" : "—",
        timed ? "≤ " + short_ms(number(get(r, "connect_p99_ms"))) + " ms" : "—", verdict_class(verdict), esc(verdict));
  }
  return out + "</tbody>\n</table>\n</section>\n";
}

// --- the flow table ---------------------------------------------------------------------------------

std::string flows_section(const json& report) {
  std::string out = "<section id=\"flows\">\n<h2>Flows</h2>\n";
  const json& flows = get(report, "flows");
  if (!flows.is_array() || flows.empty()) return out + "<p class=\"note\">No flow to the service CIDRs was seen.</p>\n</section>\n";
  out += "<table>\n<thead><tr><th>#</th><th>Flow</th><th>DNAT target</th><th>Egress</th><th>State</th><th>Verdict</th>"
         "<th>Process</th><th class=\"num\">Packets</th><th>Reply</th><th class=\"num\">Seen at</th></tr></thead>\n<tbody>\n";
  size_t answered = 0, hidden = 0, n = 0;
  for (const auto& f : flows) {
    n++;
    std::string state = text(get(f, "state")), verdict = text(get(f, "verdict"));
    if (state == "answered" && ++answered > kMaxAnsweredRows) {
      hidden++;
      continue;
    }
    const json& dnat = get(f, "dnat");
    std::string process = text(get(f, "comm")).empty()
                              ? (get(f, "forwarded") == true ? "forwarded from " + h(get(f, "ingress_dev")) : "")
                              : h(get(f, "comm")) + " " + h(get(f, "pid"));
    if (get(f, "pod").is_string()) process += (process.empty() ? "pod " : " pod ") + h(get(f, "pod"));
    if (get(f, "preexisting") == true) process += " <span class=\"note\">(pre-existing)</span>";
    std::string service = get(f, "service").is_string() ? "<br>" + h(get(f, "service")) : "";
    std::string packets = h(get(f, "syns"));
    if (number(get(f, "retransmits")) > 0) packets += " (" + h(get(f, "retransmits")) + " retx)";
    std::string reply;
    if (get(f, "reply").is_object())
      reply = "on " + h(get(f, "reply", "dev")) + " after " + millis(number(get(f, "reply", "after_ms")));
    if (get(f, "drops").is_object()) reply += (reply.empty() ? "" : "; ") + h(get(f, "drops", "count")) + " dropped";
    out += fmt::format(
        "<tr class=\"{}\"><td class=\"num\">{}</td><td class=\"mono\">{} {}{}</td><td class=\"mono\">{}</td><td>{}</td>"
        "<td>{}</td><td><span class=\"verdict {}\">{}</span></td><td class=\"nw\">{}</td><td class=\"num\">{}</td><td>{}</td>"
        "<td class=\"num\">{}</td></tr>\n",
        verdict_class(verdict), n, h(get(f, "flow", "proto")), esc(flow_tuple(get(f, "flow"))), service,
        dnat.is_object() ? esc(endpoint(get(dnat, "ip"), get(dnat, "port"))) : "—", h(get(f, "egress_dev")),
        esc(state), verdict_class(verdict), esc(verdict), process, packets, reply,
        get(f, "first_seen_s").is_number() ? seconds(number(get(f, "first_seen_s"))) : "");
  }
  out += "</tbody>\n</table>\n";
  if (hidden)
    out += fmt::format("<p class=\"note\">{} in the JSON report.</p>\n",
                       hidden == 1 ? "1 more answered flow is" : fmt::format("{} more answered flows are", hidden));
  return out + "</section>\n";
}

// --- configuration and the run ------------------------------------------------------------------------

std::string lines_block(const char* title, const json& v) {
  std::string body;
  if (v.is_array())
    for (const auto& line : v) body += h(line) + "\n";
  else
    body = h(v);
  if (body.empty()) body = "(none)";
  return fmt::format("<h4>{}</h4><pre>{}</pre>\n", title, body);
}

std::string config_section(const json& report) {
  const json& cfg = get(report, "config");
  std::string out = "<section id=\"config\">\n<h2>Configuration at the end of the trace</h2>\n";
  if (!cfg.is_object()) return out + "<p class=\"note\">Not recorded.</p>\n</section>\n";
  out += "<p class=\"note\">What the diagnoses relied on, as <code>ip</code> and <code>iptables-save</code> print it.</p>\n";
  out += lines_block("Routes (every table)", get(cfg, "routes"));
  out += "<div class=\"cols\"><div>\n" + lines_block("Rules (IPv4)", get(cfg, "rules", "ipv4")) + "</div><div>\n" +
         lines_block("Rules (IPv6)", get(cfg, "rules", "ipv6")) + "</div></div>\n";
  out += "<div class=\"cols\"><div>\n" + lines_block("Addresses", get(cfg, "addresses")) + "</div><div>\n";
  out += "<h4>rp_filter</h4>";
  const json& rp = get(cfg, "rp_filter");
  if (rp.is_object() && !rp.empty()) {
    out += "<table><thead><tr><th>device</th><th>rp_filter</th></tr></thead><tbody>\n";
    for (const auto& [dev, v] : rp.items()) {
      double n = number(v, -1);
      const char* meaning = n == 0 ? "off" : n == 1 ? "strict" : n == 2 ? "loose" : "";
      out += fmt::format("<tr><td class=\"mono\">{}</td><td>{} {}</td></tr>\n", esc(dev), h(v), meaning);
    }
    out += "</tbody></table>\n";
  } else {
    out += "<pre>(none)</pre>\n";
  }
  out += "</div></div>\n" + lines_block("NAT rules", get(cfg, "nat_rules"));
  return out + "</section>\n";
}

std::string run_section(const json& report) {
  std::string out = "<section id=\"run\">\n<h2>The trace</h2>\n<div class=\"cols\"><div>\n<h4>Hooks</h4><dl class=\"facts\">\n";
  const json& hooks = get(report, "hooks");
  if (hooks.is_array())
    for (const auto& hk : hooks) out += "<dt>" + h(get(hk, "role")) + "</dt><dd><code>" + h(get(hk, "hook")) + "</code></dd>\n";
  const json& refused = get(report, "refused_hooks");
  if (refused.is_array())
    for (const auto& hk : refused)
      out += "<dt>" + h(get(hk, "role")) + "</dt><dd><code>" + h(get(hk, "hook")) + "</code> refused: " +
             h(get(hk, "error")) + "</dd>\n";
  out += "</dl>\n</div><div>\n<h4>Counters</h4><dl class=\"facts\">\n";
  const json& stats = get(report, "stats");
  if (stats.is_object())
    for (const auto& [k, v] : stats.items()) out += "<dt>" + esc(k) + "</dt><dd>" + h(v) + "</dd>\n";
  out += "</dl>\n";
  if (number(get(stats, "ringbuf_drops")) > 0)
    out += "<p class=\"note\">Events were lost: verdicts may be incomplete.</p>\n";
  out += fmt::format("<p class=\"note\">Network namespace inode {}.</p>\n", h(get(report, "netns", "inode")));
  return out + "</div></div>\n</section>\n";
}

}  // namespace

std::string report_html(const json& report) {
  auto groups = group_diagnoses(report);
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>svctrace report " + h(get(report, "started_at")) + "</title>\n<style>" + kStyle + "</style>\n</head>\n";
  out += "<body>\n<main>\n";
  out += summary_section(report, groups);
  out += diagnoses_section(groups, text(get(report, "pcap")));
  out += services_section(report);
  out += timeline_section(report);
  out += flows_section(report);
  out += config_section(report);
  out += run_section(report);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

bool wants_html_report(const std::string& path) {
  auto ends_with = [&](std::string_view ext) {
    if (path.size() < ext.size()) return false;
    return std::equal(ext.begin(), ext.end(), path.end() - static_cast<long>(ext.size()),
                      [](char e, char c) { return e == std::tolower(static_cast<unsigned char>(c)); });
  };
  return ends_with(".html") || ends_with(".htm");
}

std::string render_report(const std::string& path, const json& report) {
  return wants_html_report(path) ? report_html(report) : json_text(report, 2) + "\n";
}

}  // namespace svctrace
