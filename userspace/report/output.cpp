#include "report/output.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "report/text.h"

namespace svctrace {

using nlohmann::json;

static double ms(uint64_t ns) { return static_cast<double>(ns / 1000) / 1000.0; }
// From one timestamp to another, either way round, in ms to the microsecond.
static double ms_between(uint64_t from, uint64_t to) { return to >= from ? ms(to - from) : -ms(from - to); }

JsonObject tuple_object(const FlowKey& k) {
  JsonObject o;
  o.add("dport", k.dport).add("dst", k.dst.str()).add("proto", proto_name(k.proto));
  o.add("sport", k.sport).add("src", k.src.str());
  return o;
}

json tuple_json(const FlowKey& k) { return json::parse(tuple_object(k).text()); }

static std::string endpoint_or_null(const std::optional<IpAddr>& ip, uint16_t port) {
  if (!ip) return "null";
  return JsonObject().add("ip", ip->str()).add("port", port).text();
}

// The string, or null when it is empty.
static std::string string_or_null(const std::string& s) { return s.empty() ? "null" : json_string(s); }

static JsonObject route_seen_object(const RouteDecision& r, const std::string& dev) {
  JsonObject o;
  o.add("dev", dev).raw("gateway", r.gateway.is_set() ? json_string(r.gateway.str()) : "null");
  if (r.nh_saddr.is_set()) o.add("nexthop_src", r.nh_saddr.str());
  if (r.prefsrc.is_set()) o.add("route_src", r.prefsrc.str());
  o.add("table", r.table);
  return o;
}

static std::string container_text(const Container& c) {
  if (c.id.empty() && c.pod_uid.empty()) return "null";
  JsonObject o;
  o.raw("id", string_or_null(c.id));
  if (!c.pod.empty()) o.add("pod", c.pod);
  return o.raw("pod_uid", string_or_null(c.pod_uid)).text();
}

std::string json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

// The fields are added in the order of their keys, which the printed line has: the JsonObject is then
// its own text, with no sort.
JsonObject flow_object(const Flow& f, RoutingView& names, uint64_t origin_ns, const char* type) {
  JsonObject o;
  if (f.inbound) o.add("arrival_dev", names.interface_name(f.arrival_ifindex));
  o.add("comm", f.comm).raw("container", container_text(f.container));
  if (f.state != FlowState::Pending) o.add("decided_after_ms", ms(f.decided_ns - f.first_seen_ns));
  o.raw("dnat", endpoint_or_null(f.dnat_ip, f.dnat_port));
  if (f.drops)
    o.add("drops", JsonObject()
                       .add("count", f.drops)
                       .add("dev", names.interface_name(f.drop_ifindex))
                       .add("reason_code", f.drop_reason));
  o.raw("egress_dev", f.egress_ifindex ? json_string(names.interface_name(f.egress_ifindex)) : "null");
  // When, for a timeline: the flow against the trace's start, its packets against the flow's start.
  if (origin_ns) o.add("first_seen_s", ms_between(origin_ns, f.first_seen_ns) / 1000.0);
  o.add("flow", tuple_object(f.key)).add("forwarded", f.forwarded());
  o.add("inbound", f.inbound);  // came in to this host (a backend), rather than leaving it
  if (f.forwarded()) o.add("ingress_dev", names.interface_name(f.ingress_ifindex));
  o.add("netns", f.key.netns);
  JsonArray packets, retransmits;
  for (uint64_t t : f.packet_ns) packets.add(ms_between(f.first_seen_ns, t));
  for (uint64_t t : f.retransmit_ns) retransmits.add(ms_between(f.first_seen_ns, t));
  o.raw("packet_after_ms", packets.text()).add("pid", f.pid);
  if (!f.pod.empty()) o.add("pod", f.pod);
  o.add("preexisting", f.preexisting);
  if (f.reply_ns)  // dev: null for an answer from this host (it came in by no device)
    o.add("reply", JsonObject()
                       .add("after_ms", ms(f.reply_ns - f.first_seen_ns))
                       .raw("dev", f.reply_ifindex ? json_string(names.interface_name(f.reply_ifindex)) : "null"));
  o.raw("retransmit_after_ms", retransmits.text()).add("retransmits", f.retransmits);
  o.raw("route_dev", f.route_ifindex ? json_string(names.interface_name(f.route_ifindex)) : "null");
  if (f.route) o.add("route_seen", route_seen_object(*f.route, names.interface_name(f.route->oif)));
  if (!f.service.empty()) o.add("service", f.service);
  o.raw("snat", endpoint_or_null(f.snat_ip, f.snat_port));
  o.raw("socket_error", f.sk_err ? json_string(std::strerror(f.sk_err)) : "null");
  o.add("state", to_string(f.state)).add("syns", f.syns());
  if (type) o.add("type", type);
  o.add("verdict", f.verdict.empty() ? to_string(f.state) : f.verdict.c_str());
  return o;
}

json flow_json(const Flow& f, RoutingView& names, uint64_t origin_ns) {
  return json::parse(flow_object(f, names, origin_ns).text());
}

static std::string string_array_text(const std::vector<std::string>& strings) {
  JsonArray a;
  for (const auto& s : strings) a.add(s);
  return a.text();
}

// The routing change seen last before the flow's first packet.
static JsonObject after_change_object(const RoutingChange& c, double seconds_before) {
  return JsonObject()
      .add("deleted", c.deleted)
      .add("kind", name(c.kind))
      .add("seconds_before", seconds_before)
      .add("what", c.what);
}

// no_route_back's evidence: the lookup for the answer, then and now.
static JsonObject route_back_object(const Diagnosis& d) {
  return JsonObject()
      .add("arrival_dev", d.arrival_dev)
      .add("kernel_missed_in_table", table_name(d.missed_table))
      .raw("route_now", d.route_back_now ? json_string(format_route(*d.route_back_now)) : "null")
      .raw("tables_tried", string_array_text(d.tables_tried));
}

static JsonObject evidence_object(const Diagnosis& d) {
  JsonObject evidence;
  if (d.preceding_change) evidence.add("after_change", after_change_object(*d.preceding_change, d.preceding_change_s));
  if (!d.answered_by.empty()) evidence.add("answered_by", d.answered_by);
  if (d.drops)
    evidence.add("drops", JsonObject().add("count", d.drops).add("dev", d.drop_dev).add("reason", d.drop_reason));
  JsonArray addresses;
  for (const auto& a : d.egress_addresses) addresses.add(a.str());
  evidence.raw("egress_addresses", addresses.text());
  if (d.forwarded) evidence.add("ingress_dev", d.ingress_dev);
  evidence.add("packets", d.syns);
  if (!d.reply_dev.empty()) evidence.add("reply_dev", d.reply_dev);
  evidence.add("retransmits", d.retransmits);
  if (d.verdict == Verdict::NoRouteBack) evidence.add("route_back", route_back_object(d));
  evidence.raw("route_dev", string_or_null(d.route_dev));
  if (d.route_seen) evidence.add("route_seen", route_seen_object(*d.route_seen, d.route_seen_dev));
  evidence.add("syns", d.syns).add("waited_ms", ms(d.waited_ns));
  return evidence;
}

static std::string persistent_fix_text(const Diagnosis& d) {
  if (d.persistent_fix.empty()) return "null";
  return JsonObject().add("how", d.persistent_fix).add("tool", d.persistent_tool).text();
}

static std::string vrf_text(const Diagnosis& d) {
  if (!d.vrf) return "null";
  return JsonObject()
      .add("name", d.vrf->name)
      .add("table", table_name(d.vrf->table))
      .add("table_missed", d.vrf_table_missed)
      .text();
}

// Its fields are added in key order too, as are those of the objects in it.
JsonObject diagnosis_object(const Diagnosis& d) {
  JsonObject o;
  o.raw("check", string_or_null(d.check));
  o.add("comm", d.comm).raw("container", container_text(d.container));
  o.raw("dnat", endpoint_or_null(d.dnat_ip, d.dnat_port)).raw("drop_reason", string_or_null(d.drop_reason));
  o.raw("egress_dev", string_or_null(d.egress_dev)).add("evidence", evidence_object(d));
  o.raw("expected_source", d.expected_source.is_set() ? json_string(d.expected_source.str()) : "null");
  o.raw("fix", string_or_null(d.fix)).raw("fix_alternative", string_or_null(d.fix_alternative));
  o.add("fix_checked_against", d.fix_checked_against).raw("fix_conflicts", string_array_text(d.fix_conflicts));
  o.add("fix_proven", d.fix_proven).raw("fix_would_break", string_array_text(d.fix_would_break));
  o.add("flow", tuple_object(d.flow)).add("forwarded", d.forwarded);
  o.raw("no_fix_why", string_or_null(d.no_source_nat_why));
  o.raw("no_route_fix_why", string_or_null(d.no_route_fix_why));
  o.raw("persistent_fix", persistent_fix_text(d));
  o.add("pid", d.pid);
  if (!d.pod.empty()) o.add("pod", d.pod);
  if (d.preexisting) o.add("preexisting", true);
  o.add("reason", d.reason).raw("reply_dev", string_or_null(d.reply_dev));
  if (!d.service.empty()) o.add("service", d.service);
  o.raw("source_route", d.source_route ? json_string(format_route(*d.source_route)) : "null");
  o.raw("source_route_table", d.source_route ? json_string(table_name(d.source_route->table)) : "null");
  o.raw("source_rule", d.source_rule ? json_string(format_rule(*d.source_rule)) : "null");
  o.add("type", "diagnosis").add("verdict", name(d.verdict));
  o.raw("vrf", vrf_text(d));
  return o;
}

json diagnosis_json(const Diagnosis& d) { return json::parse(diagnosis_object(d).text()); }

// "10.0.0.12:40000 → 172.24.0.1:443 default/kubernetes:https (DNAT 10.0.0.8:6443)": the Service's
// name where kube-proxy's rules give it.
static std::string endpoints(const FlowKey& k, const std::optional<IpAddr>& dnat, uint16_t dnat_port,
                             const std::string& service) {
  std::string s = endpoint(k.src, k.sport) + " → " + endpoint(k.dst, k.dport);
  if (!service.empty()) s += " " + service;
  if (dnat) s += " (DNAT " + endpoint(*dnat, dnat_port) + ")";
  return s;
}

// " [kubelet 812]", " [nc 4242 pod default/client container 0123456789ab]": the short id, as `crictl ps`
// prints it; " [pod default/client]" for a flow forwarded from a pod (no process of this node's).
static std::string owner(uint32_t pid, const std::string& comm, const Container& c, const std::string& pod) {
  std::string who = pid ? fmt::format("{} {}", comm, pid) : "";
  if (!pod.empty()) who += (who.empty() ? "pod " : " pod ") + pod;
  if (pid && !c.id.empty()) who += " container " + c.id.substr(0, 12);
  return who.empty() ? "" : " [" + who + "]";
}

// One short line per new flow (80 columns for the usual IPv4 flow): the arrows read as "connected to
// the service, DNAT'd to the backend", then the device it left by and who opened it.
std::string human_flow(const Flow& f, RoutingView& names) {
  std::string s = fmt::format("→ {} {} → {}", proto_name(f.key.proto), endpoint(f.key.src, f.key.sport),
                              endpoint(f.key.dst, f.key.dport));
  if (!f.service.empty()) s += " " + f.service;
  if (f.dnat_ip) s += " → " + endpoint(*f.dnat_ip, f.dnat_port);
  if (f.egress_ifindex) s += " " + names.interface_name(f.egress_ifindex);
  if (f.inbound) s += " in on " + names.interface_name(f.arrival_ifindex);
  if (f.preexisting) s += " (preexisting)";
  return s + owner(f.pid, f.comm, f.container, f.pod);
}

std::string human_outcome(const Flow& f) {
  const char* mark = f.state == FlowState::Answered ? "✓" : "·";
  if (f.preexisting && f.decided_ns == f.first_seen_ns)  // conntrack's word, not timed by svctrace
    return fmt::format("{} {} {}: {} before svctrace started", mark, proto_name(f.key.proto),
                       endpoints(f.key, f.dnat_ip, f.dnat_port, f.service), to_string(f.state));
  return fmt::format("{} {} {}: {} after {:.1f} ms", mark, proto_name(f.key.proto),
                     endpoints(f.key, f.dnat_ip, f.dnat_port, f.service), to_string(f.state),
                     ms(f.decided_ns - f.first_seen_ns));
}

std::string human_service_row(const json& row) {
  const int64_t failed = row.value("failed", int64_t{0});
  std::string name = row.value("service_name", "");
  std::string line = fmt::format("{} {}{} → {}{}: {} ({:.1f}/s), {:.0f}% answered", failed ? "✗" : "✓",
                                 row.value("service", ""), name.empty() ? "" : " " + name, row.value("backend", ""),
                                 row.value("egress_dev", "").empty() ? "" : " out " + row.value("egress_dev", ""),
                                 counted(row.value("flows", uint64_t{0}), "flow"), row.value("flows_per_s", 0.0),
                                 row.value("answered_pct", 0.0));
  if (failed) line += fmt::format(", {} failed ({})", failed, row.value("verdict", ""));
  // Upper bounds of log2 buckets: "within" that time.
  if (row.value("answered", int64_t{0}) > 0)
    line += fmt::format(", connect p50 ≤{:.3g} ms, p99 ≤{:.3g} ms", row.value("connect_p50_ms", 0.0),
                        row.value("connect_p99_ms", 0.0));
  return line;
}

// What a diagnosis says for its verdict: what happened to the flow, at the end of its first line, and
// why, in whole lines under it.
struct VerdictLines {
  std::string what_happened;
  std::string why;
};

static std::string reason_line(const Diagnosis& d) { return "  " + d.reason + ".\n"; }

static std::string no_answer_after(const Diagnosis& d) {
  bool tcp = d.flow.proto == IPPROTO_TCP;
  // Not timed by svctrace, which did not see it start.
  if (d.preexisting) return fmt::format("preexisting: conntrack's entry, from before svctrace started, has no {}", tcp ? "SYN-ACK" : "reply");
  return fmt::format("no {} after {} {}{} ({:.0f} ms)", tcp ? "SYN-ACK" : "reply", d.syns, tcp ? "SYN" : "packet",
                     d.syns == 1 ? "" : "s", ms(d.waited_ns));
}

// How the table of the route that chose the source stands to the flow's VRF: " of VRF blue", or the
// VRF's table the lookup fell through first; "" outside a VRF.
static std::string vrf_of_source_table(const Diagnosis& d, uint32_t table) {
  if (!d.vrf) return "";
  if (d.vrf_table_missed)
    return fmt::format(", after VRF {}'s table {} had no route for {}", d.vrf->name, table_name(d.vrf->table),
                       d.flow.dst.str());
  if (d.vrf->table == table) return " of VRF " + d.vrf->name;
  return "";
}

// The route (and rule) that chose the flow's source address; `end` ends the sentence, "," when the
// next line goes on with it.
static std::string source_choice_line(const Diagnosis& d, const char* end) {
  const uint32_t table = d.source_route->table;
  return fmt::format("  source {} was chosen by route \"{}\" (table {}{}{}){}\n", d.flow.src.str(),
                     format_route(*d.source_route), table_name(table), vrf_of_source_table(d, table),
                     d.source_rule ? ", selected by rule \"" + format_rule(*d.source_rule) + "\"" : "", end);
}

// One function for each family of verdicts: what happened, and why.

static VerdictLines unanswered(const Diagnosis& d) { return {no_answer_after(d), reason_line(d)}; }

static VerdictLines no_route_back(const Diagnosis& d) {
  return {fmt::format("no route back, no SYN-ACK sent to {} SYN{} ({:.0f} ms)", d.syns, d.syns == 1 ? "" : "s",
                      ms(d.waited_ns)),
          reason_line(d)};
}

static VerdictLines refused(const Diagnosis& d) {
  return {fmt::format("refused ({})", d.answered_by == "rst" ? "RST" : d.answered_by), reason_line(d)};
}

// The ICMP error that answered, as answered_by names it ("icmp type 3 code 3").
static VerdictLines unreachable(const Diagnosis& d) { return {d.answered_by, reason_line(d)}; }

static VerdictLines reply_invalid(const Diagnosis& d) {
  return {fmt::format("reply INVALID to conntrack, dropped on {}", d.drop_dev), reason_line(d)};
}

static VerdictLines reply_dropped(const Diagnosis& d) {
  return {fmt::format("reply dropped on {} ({})", d.drop_dev, d.drop_reason),
          reason_line(d) + (d.source_route ? source_choice_line(d, ".") : "")};
}

static VerdictLines asymmetric_source(const Diagnosis& d) {
  // Without the route that chose the source (gone, or changed since), the reason says what is known.
  if (!d.source_route) return unanswered(d);
  return {no_answer_after(d),
          source_choice_line(d, ",") +
              fmt::format("  but after DNAT the packet leaves {}, whose address is {}; the backend cannot answer {}.\n",
                          d.egress_dev, d.expected_source.is_set() ? d.expected_source.str() : "another",
                          d.flow.src.str())};
}

static VerdictLines verdict_lines(const Diagnosis& d) {
  switch (d.verdict) {
    case Verdict::NoRouteBack: return no_route_back(d);
    case Verdict::Refused: return refused(d);
    case Verdict::Unreachable: return unreachable(d);
    case Verdict::ReplyInvalid: return reply_invalid(d);
    case Verdict::ReplyDropped: return reply_dropped(d);
    case Verdict::AsymmetricSource: return asymmetric_source(d);
    case Verdict::NoEndpoints:
    case Verdict::DroppedHere:
    case Verdict::NotDnatted:
    case Verdict::Unanswered:
    case Verdict::Ok:
    case Verdict::NoRoute: return unanswered(d);
  }
  return unanswered(d);  // a value that is no member
}

// The fix in the tool that manages the device, one indented line for each of its lines.
static std::string persistent_fix_lines(const Diagnosis& d) {
  std::string s = fmt::format("  to keep it across reboots ({}):\n", d.persistent_tool);
  std::string how = d.persistent_fix;
  if (how.back() != '\n') how += '\n';
  for (size_t pos = 0, nl; (nl = how.find('\n', pos)) != std::string::npos; pos = nl + 1)
    s += "    " + how.substr(pos, nl - pos) + "\n";
  return s;
}

// "fix: CMD", saying what the fix was checked against: "fix (checked against 14 service pairs): CMD"
// when a kernel proved it, "fix (unproven: reasoned against 14 service pairs): CMD" when svctrace's
// reasoning had to do.
static std::string fix_line(const Diagnosis& d) {
  if (!d.fix_checked_against) return "  fix: " + d.fix + "\n";
  const size_t n = d.fix_checked_against;
  return fmt::format("  fix ({} {} service pair{}): {}\n", d.fix_proven ? "checked against" : "unproven: reasoned against",
                     n, n == 1 ? "" : "s", d.fix);
}

std::string fix_lines(const Diagnosis& d) {
  std::string s;
  if (!d.fix.empty()) s += fix_line(d);
  if (!d.check.empty()) s += "  check: " + d.check + "\n";
  if (!d.fix_would_break.empty())
    s += fmt::format("  (only this service IP: a route for the whole CIDR would break {})\n",
                     fmt::join(d.fix_would_break, ", "));
  if (!d.no_route_fix_why.empty())
    s += fmt::format("  no route fix: {}{}\n", d.no_route_fix_why, d.fix.empty() ? "; " + d.no_source_nat_why : "");
  if (!d.fix_conflicts.empty())
    s += fmt::format("  {}: any route for {} would break {}, which work{} now; {}\n",
                     d.fix.empty() ? "no fix printed" : "no route fix", d.flow.dst.str(),
                     fmt::join(d.fix_conflicts, ", "), d.fix_conflicts.size() == 1 ? "s" : "",
                     d.fix.empty() ? d.no_source_nat_why : "the fix is a source NAT for exactly the broken direction");
  if (!d.fix_alternative.empty()) s += "  (" + d.fix_alternative + ")\n";
  if (!d.persistent_fix.empty()) s += persistent_fix_lines(d);
  return s;
}

std::string human_diagnosis(const Diagnosis& d) {
  VerdictLines verdict = verdict_lines(d);
  std::string s = fmt::format("✗ {}", endpoints(d.flow, d.dnat_ip, d.dnat_port, d.service));
  if (!d.egress_dev.empty()) s += " out " + d.egress_dev;
  if (!d.arrival_dev.empty()) s += " in on " + d.arrival_dev;
  s += ": " + verdict.what_happened + owner(d.pid, d.comm, d.container, d.pod) + "\n" + verdict.why;
  if (d.preceding_change)
    s += fmt::format("  started {:.1f} s after {} `{}` was {}.\n", d.preceding_change_s, name(d.preceding_change->kind),
                     d.preceding_change->what, d.preceding_change->deleted ? "deleted" : "added");
  return s + fix_lines(d);
}

void write_file_atomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("cannot write report {}: {}", path, std::strerror(errno)));
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      int err = errno;
      close(fd);
      unlink(tmp.c_str());
      throw std::runtime_error(fmt::format("cannot write report {}: {}", path, std::strerror(err)));
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    throw std::runtime_error(fmt::format("cannot write report {}: {}", path, std::strerror(err)));
  }
}

}  // namespace svctrace

namespace svctrace {

nlohmann::json change_json(const RoutingChange& c, double at_s) {
  return {{"type", "change"}, {"kind", std::string(name(c.kind))}, {"what", c.what}, {"deleted", c.deleted}, {"at_s", at_s}};
}

void Output::add(std::string_view text) {
  if (before_line_) before_line_();
  out_ += text;
  if (text.empty() || text.back() != '\n') out_ += '\n';
  if (out_.size() >= kBuffer) flush();
}

void Output::flush() {
  if (out_.empty()) return;
  if (!write_error_) {
    errno = 0;
    const bool written = std::fwrite(out_.data(), 1, out_.size(), to_) == out_.size();
    // A line-buffered stream (stdout) can take the whole line in fwrite and fail only in the write
    // behind it, which only its error flag tells.
    if (std::fflush(to_) != 0 || !written || std::ferror(to_)) write_error_ = errno ? errno : EIO;
  }
  out_.clear();
}

}  // namespace svctrace
