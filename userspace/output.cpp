#include "svctrace/output.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace svctrace {

using nlohmann::json;

const char* proto_name(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    default: return "other";
  }
}

static double ms(uint64_t ns) { return static_cast<double>(ns / 1000) / 1000.0; }
// From one timestamp to another, either way round, in ms to the microsecond.
static double ms_between(uint64_t from, uint64_t to) { return to >= from ? ms(to - from) : -ms(from - to); }

json tuple_json(const FlowKey& k) {
  return {{"proto", proto_name(k.proto)}, {"src", k.src.str()}, {"sport", k.sport},
          {"dst", k.dst.str()},           {"dport", k.dport}};
}

static json endpoint_or_null(const std::optional<IpAddr>& ip, uint16_t port) {
  if (!ip) return nullptr;
  return {{"ip", ip->str()}, {"port", port}};
}

static json route_seen_json(const RouteDecision& r, const std::string& dev) {
  json j = {{"table", r.table}, {"dev", dev}};
  j["gateway"] = r.gateway.is_set() ? json(r.gateway.str()) : json(nullptr);
  if (r.prefsrc.is_set()) j["route_src"] = r.prefsrc.str();
  if (r.nh_saddr.is_set()) j["nexthop_src"] = r.nh_saddr.str();
  return j;
}

static json container_json(const Container& c) {
  if (c.id.empty() && c.pod_uid.empty()) return nullptr;
  return {{"id", c.id.empty() ? json(nullptr) : json(c.id)}, {"pod_uid", c.pod_uid.empty() ? json(nullptr) : json(c.pod_uid)}};
}

std::string json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

json flow_json(const Flow& f, RoutingView& names, uint64_t origin_ns) {

  json j = {{"flow", tuple_json(f.key)},
            {"netns", f.key.netns},
            {"dnat", endpoint_or_null(f.dnat_ip, f.dnat_port)},
            {"snat", endpoint_or_null(f.snat_ip, f.snat_port)},
            {"egress_dev", f.egress_ifindex ? json(names.interface_name(f.egress_ifindex)) : json(nullptr)},
            {"route_dev", f.route_ifindex ? json(names.interface_name(f.route_ifindex)) : json(nullptr)},
            {"state", to_string(f.state)},
            {"verdict", f.verdict.empty() ? to_string(f.state) : f.verdict},
            {"syns", f.syns()},
            {"retransmits", f.retransmits},
            {"socket_error", f.sk_err ? json(std::strerror(f.sk_err)) : json(nullptr)},
            {"pid", f.pid},
            {"comm", f.comm},
            {"container", container_json(f.container)}};
  if (f.route) j["route_seen"] = route_seen_json(*f.route, names.interface_name(f.route->oif));
  j["forwarded"] = f.forwarded();
  j["preexisting"] = f.preexisting;
  if (f.forwarded()) j["ingress_dev"] = names.interface_name(f.ingress_ifindex);
  j["inbound"] = f.inbound;  // came in to this host (a backend), rather than leaving it
  if (f.inbound) j["arrival_dev"] = names.interface_name(f.arrival_ifindex);
  if (f.reply_ns)
    j["reply"] = {{"dev", names.interface_name(f.reply_ifindex)}, {"after_ms", ms(f.reply_ns - f.first_seen_ns)}};
  if (f.drops) j["drops"] = {{"count", f.drops}, {"reason_code", f.drop_reason}, {"dev", names.interface_name(f.drop_ifindex)}};
  if (f.state != FlowState::Pending) j["decided_after_ms"] = ms(f.decided_ns - f.first_seen_ns);
  // When, for a timeline: the flow against the trace's start, its packets against the flow's start.
  if (origin_ns) j["first_seen_s"] = ms_between(origin_ns, f.first_seen_ns) / 1000.0;
  json& packets = j["packet_after_ms"] = json::array();
  for (uint64_t t : f.packet_ns) packets.push_back(ms_between(f.first_seen_ns, t));
  json& retransmits = j["retransmit_after_ms"] = json::array();
  for (uint64_t t : f.retransmit_ns) retransmits.push_back(ms_between(f.first_seen_ns, t));
  return j;
}

json diagnosis_json(const Diagnosis& d) {
  json evidence = {{"syns", d.syns},
                   {"retransmits", d.retransmits},
                   {"waited_ms", ms(d.waited_ns)},
                   {"route_dev", d.route_dev.empty() ? json(nullptr) : json(d.route_dev)},
                   {"egress_addresses", json::array()}};
  for (const auto& a : d.egress_addresses) evidence["egress_addresses"].push_back(a.str());
  if (d.route_seen) evidence["route_seen"] = route_seen_json(*d.route_seen, d.route_seen_dev);
  evidence["packets"] = d.syns;
  if (!d.reply_dev.empty()) evidence["reply_dev"] = d.reply_dev;
  if (!d.answered_by.empty()) evidence["answered_by"] = d.answered_by;
  if (d.drops) evidence["drops"] = {{"count", d.drops}, {"reason", d.drop_reason}, {"dev", d.drop_dev}};
  if (d.forwarded) evidence["ingress_dev"] = d.ingress_dev;
  if (d.verdict == "no_route_back")
    evidence["route_back"] = {{"arrival_dev", d.arrival_dev},
                              {"kernel_missed_in_table", table_name(d.missed_table)},
                              {"tables_tried", d.tables_tried},
                              {"route_now", d.route_back_now ? json(format_route(*d.route_back_now)) : json(nullptr)}};
  if (d.preceding_change)
    evidence["after_change"] = {{"kind", d.preceding_change->kind},
                                {"what", d.preceding_change->what},
                                {"deleted", d.preceding_change->deleted},
                                {"seconds_before", d.preceding_change_s}};
  json j = {{"type", "diagnosis"},
            {"verdict", d.verdict},
            {"flow", tuple_json(d.flow)},
            {"dnat", endpoint_or_null(d.dnat_ip, d.dnat_port)},
            {"egress_dev", d.egress_dev.empty() ? json(nullptr) : json(d.egress_dev)},
            {"source_route", d.source_route ? json(format_route(*d.source_route)) : json(nullptr)},
            {"source_route_table", d.source_route ? json(table_name(d.source_route->table)) : json(nullptr)},
            {"source_rule", d.source_rule ? json(format_rule(*d.source_rule)) : json(nullptr)},
            {"vrf", d.vrf ? json{{"name", d.vrf->name}, {"table", table_name(d.vrf->table)},
                                 {"table_missed", d.vrf_table_missed}}
                          : json(nullptr)},
            {"expected_source", d.expected_source.is_set() ? json(d.expected_source.str()) : json(nullptr)},
            {"fix", d.fix.empty() ? json(nullptr) : json(d.fix)},
            {"check", d.check.empty() ? json(nullptr) : json(d.check)},
            {"fix_would_break", d.fix_would_break},
            {"persistent_fix", d.persistent_fix.empty()
                                   ? json(nullptr)
                                   : json{{"tool", d.persistent_tool}, {"how", d.persistent_fix}}},
            {"reason", d.reason},
            {"forwarded", d.forwarded},
            {"drop_reason", d.drop_reason.empty() ? json(nullptr) : json(d.drop_reason)},
            {"reply_dev", d.reply_dev.empty() ? json(nullptr) : json(d.reply_dev)},
            {"pid", d.pid},
            {"comm", d.comm},
            {"container", container_json(d.container)},
            {"evidence", evidence}};
  return j;
}

std::string endpoint(const IpAddr& ip, uint16_t port) {
  return ip.family == AF_INET6 ? fmt::format("[{}]:{}", ip.str(), port) : fmt::format("{}:{}", ip.str(), port);
}

static std::string endpoints(const FlowKey& k, const std::optional<IpAddr>& dnat, uint16_t dnat_port) {
  std::string s = endpoint(k.src, k.sport) + " → " + endpoint(k.dst, k.dport);
  if (dnat) s += " (DNAT " + endpoint(*dnat, dnat_port) + ")";
  return s;
}

// " [kubelet 812]", " [nc 4242 container 0123456789ab]": the short id, as `crictl ps` prints it.
static std::string owner(uint32_t pid, const std::string& comm, const Container& c) {
  if (!pid) return "";
  if (c.id.empty()) return fmt::format(" [{} {}]", comm, pid);
  return fmt::format(" [{} {} container {}]", comm, pid, c.id.substr(0, 12));
}

// One short line per new flow (80 columns for the usual IPv4 flow): the arrows read as "connected to
// the service, DNAT'd to the backend", then the device it left by and who opened it.
std::string human_flow(const Flow& f, RoutingView& names) {
  std::string s = fmt::format("→ {} {} → {}", proto_name(f.key.proto), endpoint(f.key.src, f.key.sport),
                              endpoint(f.key.dst, f.key.dport));
  if (f.dnat_ip) s += " → " + endpoint(*f.dnat_ip, f.dnat_port);
  if (f.egress_ifindex) s += " " + names.interface_name(f.egress_ifindex);
  if (f.inbound) s += " in on " + names.interface_name(f.arrival_ifindex);
  return s + owner(f.pid, f.comm, f.container);
}

std::string human_outcome(const Flow& f) {
  const char* mark = f.state == FlowState::Answered ? "✓" : "·";
  return fmt::format("{} {} {}: {} after {:.1f} ms", mark, proto_name(f.key.proto),
                     endpoints(f.key, f.dnat_ip, f.dnat_port), to_string(f.state),
                     ms(f.decided_ns - f.first_seen_ns));
}

std::string human_diagnosis(const Diagnosis& d) {
  std::string s = fmt::format("✗ {}", endpoints(d.flow, d.dnat_ip, d.dnat_port));
  if (!d.egress_dev.empty()) s += " out " + d.egress_dev;
  if (!d.arrival_dev.empty()) s += " in on " + d.arrival_dev;
  bool tcp = d.flow.proto == IPPROTO_TCP;
  if (d.verdict == "no_route_back")
    s += fmt::format(": no route back, no SYN-ACK sent to {} SYN{} ({:.0f} ms)", d.syns, d.syns == 1 ? "" : "s",
                     ms(d.waited_ns));
  else if (d.verdict == "refused")
    s += fmt::format(": refused ({})", d.answered_by == "rst" ? "RST" : d.answered_by);
  else if (d.verdict == "unreachable")
    s += ": " + d.answered_by;
  else if (d.verdict == "reply_invalid")
    s += fmt::format(": reply INVALID to conntrack, dropped on {}", d.drop_dev);
  else if (d.verdict == "reply_dropped")
    s += fmt::format(": reply dropped on {} ({})", d.drop_dev, d.drop_reason);
  else
    s += fmt::format(": no {} after {} {}{} ({:.0f} ms)", tcp ? "SYN-ACK" : "reply", d.syns, tcp ? "SYN" : "packet",
                     d.syns == 1 ? "" : "s", ms(d.waited_ns));
  s += owner(d.pid, d.comm, d.container) + "\n";
  IpAddr src = d.flow.src;
  if (d.verdict == "asymmetric_source" || d.verdict == "reply_dropped") {
    if (d.verdict == "reply_dropped") s += "  " + d.reason + ".\n";
    if (d.source_route) {
      const uint32_t table = d.source_route->table;
      std::string in_vrf;
      if (d.vrf && d.vrf->table == table) in_vrf = " of VRF " + d.vrf->name;
      if (d.vrf && d.vrf_table_missed)
        in_vrf = fmt::format(", after VRF {}'s table {} had no route for {}", d.vrf->name, table_name(d.vrf->table),
                             d.flow.dst.str());
      s += fmt::format("  source {} was chosen by route \"{}\" (table {}{}{}){}\n", src.str(),
                       format_route(*d.source_route), table_name(table), in_vrf,
                       d.source_rule ? ", selected by rule \"" + format_rule(*d.source_rule) + "\"" : "",
                       d.verdict == "asymmetric_source" ? "," : ".");
    }
    else if (d.verdict == "asymmetric_source")
      s += "  " + d.reason + ".\n";  // the route that chose the source is gone, or has changed since
    if (d.verdict == "asymmetric_source" && d.source_route)
      s += fmt::format("  but after DNAT the packet leaves {}, whose address is {}; the backend cannot answer {}.\n",
                       d.egress_dev, d.expected_source.is_set() ? d.expected_source.str() : "another", src.str());
  } else {
    s += "  " + d.reason + ".\n";
  }
  if (d.preceding_change)
    s += fmt::format("  started {:.1f} s after {} `{}` was {}.\n", d.preceding_change_s, d.preceding_change->kind,
                     d.preceding_change->what, d.preceding_change->deleted ? "deleted" : "added");
  if (!d.fix.empty()) s += "  fix: " + d.fix + "\n";
  if (!d.check.empty()) s += "  check: " + d.check + "\n";
  if (!d.fix_would_break.empty())
    s += fmt::format("  (only this service IP: a route for the whole CIDR would break {})\n",
                     fmt::join(d.fix_would_break, ", "));
  if (!d.persistent_fix.empty()) {
    s += fmt::format("  to keep it across reboots ({}):\n", d.persistent_tool);
    std::string how = d.persistent_fix;
    if (how.back() != '\n') how += '\n';
    for (size_t pos = 0, nl; (nl = how.find('\n', pos)) != std::string::npos; pos = nl + 1)
      s += "    " + how.substr(pos, nl - pos) + "\n";
  }
  return s;
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
