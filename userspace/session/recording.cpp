// Recording a session to NDJSON and reading it back for replay (see record.h for the format).
#include "session/recording.h"

#include "report/output.h"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace svctrace {

using nlohmann::json;

// ---- the node's answers and the session's inputs as JSON ------------------------------------------
// nlohmann finds these by argument-dependent lookup. Addresses are text ("" for none) so a capture
// reads like the ip tools' output.

void to_json(json& j, const IpAddr& ip) { j = ip.str(); }
void from_json(const json& j, IpAddr& ip) {
  const auto& s = j.get_ref<const std::string&>();
  if (s.empty()) {
    ip = {};
    return;
  }
  auto parsed = IpAddr::parse(s);
  if (!parsed) throw RecordingError(fmt::format("\"{}\" is not an address", s));
  ip = *parsed;
}

void to_json(json& j, const Cidr& c) { j = c.str(); }
void from_json(const json& j, Cidr& c) {
  try {
    c = Cidr::parse(j.get<std::string>());
  } catch (const CidrError& e) {
    throw RecordingError(e.what());
  }
}

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Nexthop, gateway, oif, dev, weight, flags)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(InterfaceAddress, addr, prefix_len, ifindex)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Vrf, ifindex, name, table, members)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(NetworkManagement, tool, network_file)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Container, id, pod_uid, pod)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RuleOrigin, rules, chain)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SourceMatch, any_of, negated)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DeviceMatch, any_of, negated)
void to_json(json& j, SnatAction a) { j = std::string(name(a)); }
void from_json(const json& j, SnatAction& a) {
  for (SnatAction v : {SnatAction::None, SnatAction::Masquerade, SnatAction::Snat, SnatAction::Unknown}) {
    if (j.is_string() && j.get_ref<const std::string&>() == name(v)) {
      a = v;
      return;
    }
  }
  throw RecordingError(fmt::format("{} is not a source NAT action", j.dump()));
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SourceNatCase, when, out, action, to, rules, chain)
// source_nat and service came later: a recording without them replays as one whose pairs had no source
// NAT and no name known.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ServicePair, proto, service_ip, service_port, backend_ip, backend_port,
                                                chain, found_in, source_nat, service, by_ipvs)
// held_released came later: a recording without it replays as one with nothing held.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(KernelCounters, events, ringbuf_drops, awaiting_size,
                                                awaiting_capacity, awaiting_evicted, held_released, packet_drops)

template <typename T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
template <typename T>
void read_optional(const json& j, const char* key, std::optional<T>& v) {
  if (j.contains(key) && !j.at(key).is_null())
    v = j.at(key).get<T>();
  else
    v.reset();
}

void to_json(json& j, const Route& r) {
  j = {{"type", r.type},         {"dst", r.dst},         {"dst_len", r.dst_len},   {"gateway", r.gateway},
       {"oif", r.oif},           {"dev", r.dev},         {"table", r.table},       {"protocol", r.protocol},
       {"scope", r.scope},       {"prefsrc", r.prefsrc}, {"metric", optional_json(r.metric)},
       {"pref", optional_json(r.pref)}, {"flags", r.flags}, {"nexthops", r.nexthops}};
}
void from_json(const json& j, Route& r) {
  j.at("type").get_to(r.type);
  j.at("dst").get_to(r.dst);
  j.at("dst_len").get_to(r.dst_len);
  j.at("gateway").get_to(r.gateway);
  j.at("oif").get_to(r.oif);
  j.at("dev").get_to(r.dev);
  j.at("table").get_to(r.table);
  j.at("protocol").get_to(r.protocol);
  j.at("scope").get_to(r.scope);
  j.at("prefsrc").get_to(r.prefsrc);
  read_optional(j, "metric", r.metric);
  read_optional(j, "pref", r.pref);
  j.at("flags").get_to(r.flags);
  j.at("nexthops").get_to(r.nexthops);
}

void to_json(json& j, const Rule& r) {
  j = {{"priority", r.priority}, {"from", optional_json(r.from)},     {"to", optional_json(r.to)},
       {"iif", r.iif},           {"fwmark", optional_json(r.fwmark)}, {"table", r.table},
       {"l3mdev", r.l3mdev},     {"action", r.action},                {"goto", r.goto_target}};
}
void from_json(const json& j, Rule& r) {
  j.at("priority").get_to(r.priority);
  read_optional(j, "from", r.from);
  read_optional(j, "to", r.to);
  j.at("iif").get_to(r.iif);
  read_optional(j, "fwmark", r.fwmark);
  j.at("table").get_to(r.table);
  r.l3mdev = j.value("l3mdev", false);  // not in recordings made before VRFs were followed
  j.at("action").get_to(r.action);
  r.goto_target = j.value("goto", 0u);
}

void to_json(json& j, const RoutingChange& c) {
  j = {{"ts_ns", c.ts_ns}, {"kind", std::string(name(c.kind))}, {"deleted", c.deleted}, {"what", c.what},
       {"covers", optional_json(c.covers)}, {"dev", c.dev}};
}
void from_json(const json& j, RoutingChange& c) {
  j.at("ts_ns").get_to(c.ts_ns);
  const std::string kind = j.at("kind").get<std::string>();
  std::optional<RoutingChangeKind> k = parse_routing_change_kind(kind);
  if (!k) throw RecordingError(fmt::format("unknown routing change kind \"{}\"", kind));
  c.kind = *k;
  j.at("deleted").get_to(c.deleted);
  j.at("what").get_to(c.what);
  read_optional(j, "covers", c.covers);
  j.at("dev").get_to(c.dev);
}

void to_json(json& j, const FlowKey& k) {
  j = {{"netns", k.netns}, {"proto", k.proto}, {"src", k.src},
       {"sport", k.sport}, {"dst", k.dst},     {"dport", k.dport}};
}
void from_json(const json& j, FlowKey& k) {
  j.at("netns").get_to(k.netns);
  j.at("proto").get_to(k.proto);
  j.at("src").get_to(k.src);
  j.at("sport").get_to(k.sport);
  j.at("dst").get_to(k.dst);
  j.at("dport").get_to(k.dport);
  if (!k.src.is_set() || k.src.family != k.dst.family) throw RecordingError("a flow needs two addresses of one family");
}

void to_json(json& j, const ExistingFlow& e) {
  j = {{"key", e.key},           {"dnat_ip", optional_json(e.dnat_ip)}, {"dnat_port", e.dnat_port},
       {"snat_ip", optional_json(e.snat_ip)}, {"snat_port", e.snat_port}, {"replied", e.replied}};
}
void from_json(const json& j, ExistingFlow& e) {
  j.at("key").get_to(e.key);
  read_optional(j, "dnat_ip", e.dnat_ip);
  j.at("dnat_port").get_to(e.dnat_port);
  read_optional(j, "snat_ip", e.snat_ip);
  j.at("snat_port").get_to(e.snat_port);
  j.at("replied").get_to(e.replied);
}

namespace {

std::string to_hex(const void* data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; i++) {
    uint8_t b = static_cast<const uint8_t*>(data)[i];
    s += digits[b >> 4];
    s += digits[b & 0xf];
  }
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool known_family(uint8_t f) { return f == AF_INET || f == AF_INET6; }

// n bytes from hex digits into out; false when the digits are not 2n lowercase hex.
bool bytes_from_hex(const std::string& hex, void* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  auto* bytes = static_cast<uint8_t*>(out);
  for (size_t i = 0; i < n; i++) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

// The bytes of one event, checked so that nothing the correlator trusts the kernel for is out of
// range: the kind, and the family of every address it turns into an IpAddr.
svc_event event_from_hex(const std::string& hex) {
  svc_event ev{};
  if (hex.size() != 2 * sizeof ev)
    throw RecordingError(fmt::format("an event has {} hex digits, not {}", hex.size(), 2 * sizeof ev));
  if (!bytes_from_hex(hex, &ev, sizeof ev)) throw RecordingError("an event's bytes are not lowercase hex");
  if (ev.kind < SVC_EV_ROUTE || ev.kind > SVC_EV_LAST) throw RecordingError(fmt::format("unknown event kind {}", ev.kind));
  bool ok = known_family(ev.tuple.family);
  if (ev.kind == SVC_EV_NAT) ok &= known_family(ev.nat.reply.family);
  if (ev.kind == SVC_EV_ROUTE) ok &= ev.route.gw_family == 0 || known_family(ev.route.gw_family);
  if (!ok) throw RecordingError("an event holds an address of an unknown family");
  return ev;
}

// The bytes of one captured packet, checked as event_from_hex checks an event's.
svc_packet packet_from_hex(const std::string& hex) {
  svc_packet p{};
  if (!bytes_from_hex(hex, &p, sizeof p)) throw RecordingError("a packet's bytes are not the hex of one");
  if (p.kind != SVC_EV_PACKET || p.caplen > SVC_SNAP_LEN || !known_family(p.flow.family))
    throw RecordingError("a packet record is not one svctrace writes");
  return p;
}

std::string answer_key(const std::string& question, const json& arg) { return question + " " + arg.dump(); }

}  // namespace

// ---- writing ---------------------------------------------------------------------------------------

Recorder::Recorder(const std::string& path, const json& header) : path_(path), tmp_(path + ".XXXXXX") {
  int fd = mkstemp(tmp_.data());
  if (fd < 0) throw std::runtime_error(fmt::format("--record: cannot create {}: {}", tmp_, std::strerror(errno)));
  fchmod(fd, 0644);  // mkstemp's 0600: a capture is made to be handed over, like the report
  out_ = fdopen(fd, "w");
  if (!out_) {
    close(fd);
    unlink(tmp_.c_str());
    throw std::runtime_error(fmt::format("--record: {}: {}", tmp_, std::strerror(errno)));
  }
  json h = header;
  h["type"] = "header";
  h["version"] = kRecordVersion;
  line(h);
}

Recorder::~Recorder() {
  if (!out_) return;
  fclose(out_);
  unlink(tmp_.c_str());
}

void Recorder::line(const json& j) {
  std::string s = json_text(j);
  s += '\n';
  if (fwrite(s.data(), 1, s.size(), out_) != s.size()) failed_ = true;
}

void Recorder::event(const svc_event& ev) { line({{"type", "event"}, {"hex", to_hex(&ev, sizeof ev)}}); }
void Recorder::packet(const svc_packet& p) { line({{"type", "packet"}, {"hex", to_hex(&p, sizeof p)}}); }

// Each tick's lines reach the file with the tick: a capture cut by SIGKILL loses at most the tick it
// was in, and ends with a line cut short, which parse_recording leaves out.
void Recorder::tick(uint64_t now_ns, const KernelCounters& kernel) {
  line({{"type", "tick"}, {"now_ns", now_ns}, {"kernel", kernel}});
  if (fflush(out_) != 0) failed_ = true;
}

void Recorder::counted(const std::vector<ServiceCount>& counts, uint64_t now_ns) {
  json list = json::array();
  for (const ServiceCount& c : counts)
    list.push_back({{"key", to_hex(&c.key, sizeof c.key)}, {"answered", c.answered}, {"connect_us_log2", c.connect_us_log2}});
  line({{"type", "counted"}, {"counts", list}, {"now_ns", now_ns}});
}

void Recorder::changes(const std::vector<RoutingChange>& changes) {
  line({{"type", "changes"}, {"changes", changes}});
}

void Recorder::existing(const ExistingFlow& e, uint64_t now_ns) {
  line({{"type", "existing"}, {"flow", e}, {"now_ns", now_ns}});
}

void Recorder::answer(const std::string& question, const json& arg, const json& answer) {
  line({{"type", "answer"}, {"q", question}, {"arg", arg}, {"a", answer}});
}

void Recorder::finish(double elapsed_s, const json& config) {
  line({{"type", "end"}, {"elapsed_s", elapsed_s}, {"config", config}});
  bool ok = !failed_ && fflush(out_) == 0 && fsync(fileno(out_)) == 0;
  ok &= fclose(out_) == 0;
  out_ = nullptr;
  if (!ok || rename(tmp_.c_str(), path_.c_str()) != 0) {
    int err = errno;
    unlink(tmp_.c_str());
    throw std::runtime_error(fmt::format("--record: could not write {}: {}", path_, std::strerror(err)));
  }
}

template <typename T>
static T recorded(Recorder& rec, const std::string& question, const json& arg, T answer) {
  rec.answer(question, arg, answer);
  return answer;
}
static std::optional<Route> recorded(Recorder& rec, const std::string& question, const json& arg,
                                     std::optional<Route> answer) {
  rec.answer(question, arg, optional_json(answer));
  return answer;
}

// A lookup's question: its destination, and the VRF only when there is one, so that recordings made
// before VRFs were followed still answer the lookups made outside any.
static json lookup_arg(const IpAddr& dst, int vrf) { return vrf > 0 ? json::array({dst, vrf}) : json(dst); }

std::optional<Route> RecordingNode::fib_match(const IpAddr& dst, int vrf) {
  return recorded(rec_, "fib_match", lookup_arg(dst, vrf), inner_.fib_match(dst, vrf));
}
std::optional<Route> RecordingNode::route_get(const IpAddr& dst, int vrf) {
  return recorded(rec_, "route_get", lookup_arg(dst, vrf), inner_.route_get(dst, vrf));
}
std::vector<InterfaceAddress> RecordingNode::addresses(int ifindex) {
  return recorded(rec_, "addresses", ifindex, inner_.addresses(ifindex));
}
std::string RecordingNode::interface_name(int ifindex) {
  return recorded(rec_, "interface_name", ifindex, inner_.interface_name(ifindex));
}
std::vector<Route> RecordingNode::routes(uint32_t table) {
  return recorded(rec_, "routes", table, inner_.routes(table));
}
std::vector<Rule> RecordingNode::rules(uint8_t family) {
  return recorded(rec_, "rules", family, inner_.rules(family));
}
std::vector<ServicePair> RecordingNode::service_pairs(const std::vector<Cidr>& cidrs) {
  return recorded(rec_, "service_pairs", cidrs, inner_.service_pairs(cidrs));
}
std::vector<Vrf> RecordingNode::vrfs() { return recorded(rec_, "vrfs", nullptr, inner_.vrfs()); }
NetworkManagement RecordingNode::network_management(int ifindex, const std::string& dev) {
  return recorded(rec_, "network_management", json{ifindex, dev}, inner_.network_management(ifindex, dev));
}

Container RecordingNode::container_of(uint32_t pid, const std::string& comm) {
  return recorded(rec_, "container_of", json{pid, comm}, inner_.container_of(pid, comm));
}
std::string RecordingNode::pod_of_ip(const IpAddr& ip) {
  return recorded(rec_, "pod_of_ip", ip, inner_.pod_of_ip(ip));
}

// ---- reading ---------------------------------------------------------------------------------------

namespace {

// The header: a recording of this format, with every option a replay needs.
json checked_header(json j) {
  if (j.at("type").get<std::string>() != "header") throw RecordingError("not an svctrace recording (no header line)");
  if (j.at("version").get<int>() != kRecordVersion)
    throw RecordingError(fmt::format("recording format {} (this svctrace reads {})", j.at("version").dump(),
                                     kRecordVersion));
  j.at("cidrs").get<std::vector<Cidr>>();
  j.at("unanswered_after_ns").get<uint64_t>();
  j.at("max_flows").get<size_t>();
  j.at("self_pid").get<uint32_t>();
  j.at("start_ns").get<uint64_t>();
  j.at("host_netns").get<bool>();
  j.at("drop_reasons").get<std::map<std::string, std::string>>();
  return j;
}

// A "counted" line's counts; throws on a malformed one.
std::vector<ServiceCount> counts_from_json(const json& list) {
  std::vector<ServiceCount> out;
  for (const json& c : list) {
    ServiceCount sc;
    if (!bytes_from_hex(c.at("key").get<std::string>(), &sc.key, sizeof sc.key) || !known_family(sc.key.family))
      throw RecordingError("a service count's key is not the bytes of one");
    sc.answered = c.at("answered").get<uint64_t>();
    sc.connect_us_log2 = c.at("connect_us_log2").get<std::array<uint64_t, SVC_CONNECT_BUCKETS>>();
    out.push_back(sc);
  }
  return out;
}

// Checks a line after the header by reading every field replay() will, so a bad file is refused
// with its line number before anything is replayed; files it where it belongs in `rec`.
void add_record(Recording& rec, json j) {
  const std::string type = j.at("type").get<std::string>();
  if (type == "event") {
    event_from_hex(j.at("hex").get<std::string>());
  } else if (type == "packet") {
    packet_from_hex(j.at("hex").get<std::string>());
  } else if (type == "tick") {
    j.at("now_ns").get<uint64_t>();
    j.at("kernel").get<KernelCounters>();
  } else if (type == "changes") {
    j.at("changes").get<std::vector<RoutingChange>>();
  } else if (type == "existing") {
    j.at("flow").get<ExistingFlow>();
    j.at("now_ns").get<uint64_t>();
  } else if (type == "counted") {
    counts_from_json(j.at("counts"));
    j.at("now_ns").get<uint64_t>();
  } else if (type == "answer") {
    j.at("q").get<std::string>();
    j.at("arg");
    j.at("a");
    rec.answers.push_back(std::move(j));
    return;
  } else if (type == "end") {
    j.at("elapsed_s").get<double>();
    rec.end = std::move(j);
    return;
  } else {
    throw RecordingError(fmt::format("unknown record type \"{}\"", type));
  }
  rec.records.push_back(std::move(j));
}

}  // namespace

Recording parse_recording(const std::string& text, const std::string& name) {
  Recording rec;
  std::istringstream in(text);
  std::string s;
  size_t lineno = 0;
  // A capture cut mid-write (svctrace killed) ends without a newline.
  const bool unterminated = !text.empty() && text.back() != '\n';
  try {
    while (std::getline(in, s)) {
      lineno++;
      if (!rec.end.is_null()) throw RecordingError("a line after the end record");
      json j = json::parse(s, nullptr, false);
      if (j.is_discarded()) {
        if (lineno == 1) throw RecordingError("not an svctrace recording (line 1 is not JSON)");
        if (unterminated && in.peek() == EOF) {
          rec.torn_last_line = true;
          break;
        }
        throw RecordingError("not JSON");
      }
      if (lineno == 1)
        rec.header = checked_header(std::move(j));
      else
        add_record(rec, std::move(j));
    }
  } catch (const json::exception& e) {
    throw RecordingError(fmt::format("{}: line {}: {}", name, lineno, e.what()));
  } catch (const RecordingError& e) {
    throw RecordingError(fmt::format("{}: line {}: {}", name, lineno, e.what()));
  }
  if (rec.header.is_null()) throw RecordingError(fmt::format("{}: empty, not an svctrace recording", name));
  return rec;
}

Recording read_recording(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw RecordingError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_recording(ss.str(), path);
}

ReplayNode::ReplayNode(const std::vector<json>& answers) {
  for (const auto& a : answers) answers_[answer_key(a.at("q"), a.at("arg"))].push_back(a.at("a"));
}

json ReplayNode::next(const std::string& question, const json& arg, bool counted) {
  std::string key = answer_key(question, arg);
  auto it = answers_.find(key);
  if (it != answers_.end() && !it->second.empty()) {
    last_[key] = it->second.front();
    it->second.pop_front();
    return last_[key];
  }
  // Asked more often than when recorded: the same question gets the same answer.
  if (auto l = last_.find(key); l != last_.end()) return l->second;
  if (counted) unanswered_++;
  return nullptr;
}

// An answer of the wrong shape (an edited file) is no answer.
template <typename T>
static std::optional<T> answer_as(const json& j) {
  if (j.is_null()) return std::nullopt;
  try {
    return j.get<T>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<Route> ReplayNode::fib_match(const IpAddr& dst, int vrf) {
  return answer_as<Route>(next("fib_match", lookup_arg(dst, vrf)));
}
std::optional<Route> ReplayNode::route_get(const IpAddr& dst, int vrf) {
  return answer_as<Route>(next("route_get", lookup_arg(dst, vrf)));
}
std::vector<InterfaceAddress> ReplayNode::addresses(int ifindex) {
  return answer_as<std::vector<InterfaceAddress>>(next("addresses", ifindex)).value_or(std::vector<InterfaceAddress>{});
}
std::string ReplayNode::interface_name(int ifindex) {
  return answer_as<std::string>(next("interface_name", ifindex)).value_or("if" + std::to_string(ifindex));
}
std::vector<Route> ReplayNode::routes(uint32_t table) {
  return answer_as<std::vector<Route>>(next("routes", table)).value_or(std::vector<Route>{});
}
std::vector<Rule> ReplayNode::rules(uint8_t family) {
  return answer_as<std::vector<Rule>>(next("rules", family)).value_or(std::vector<Rule>{});
}
std::vector<ServicePair> ReplayNode::service_pairs(const std::vector<Cidr>& cidrs) {
  return answer_as<std::vector<ServicePair>>(next("service_pairs", cidrs)).value_or(std::vector<ServicePair>{});
}
std::vector<Vrf> ReplayNode::vrfs() {
  return answer_as<std::vector<Vrf>>(next("vrfs", nullptr)).value_or(std::vector<Vrf>{});
}
NetworkManagement ReplayNode::network_management(int ifindex, const std::string& dev) {
  return answer_as<NetworkManagement>(next("network_management", json{ifindex, dev})).value_or(NetworkManagement{});
}

Container ReplayNode::container_of(uint32_t pid, const std::string& comm) {
  return answer_as<Container>(next("container_of", json{pid, comm})).value_or(Container{});
}
std::string ReplayNode::pod_of_ip(const IpAddr& ip) {
  // Not asked by a recording's svctrace before pod names: no verdict depends on the answer.
  return answer_as<std::string>(next("pod_of_ip", ip, false)).value_or("");
}

// ---- replaying -------------------------------------------------------------------------------------

SessionOptions session_options(const Recording& rec) {
  const json& h = rec.header;
  SessionOptions o;
  o.cidrs = h.at("cidrs").get<std::vector<Cidr>>();
  o.host_netns = h.at("host_netns").get<bool>();
  o.start_ns = h.at("start_ns").get<uint64_t>();
  o.unix_minus_monotonic_ns = h.value("unix_minus_monotonic_ns", uint64_t{0});
  o.stats_interval_ns = h.value("stats_interval_ns", o.stats_interval_ns);
  o.correlator.max_flows = h.at("max_flows").get<size_t>();
  o.correlator.unanswered_after_ns = h.at("unanswered_after_ns").get<uint64_t>();
  o.correlator.self_pid = h.at("self_pid").get<uint32_t>();
  return o;
}

DropReasonNames drop_reason_names(const Recording& rec) {
  DropReasonNames names;
  for (const auto& [id, name] : rec.header.at("drop_reasons").items()) {
    char* end = nullptr;
    unsigned long n = std::strtoul(id.c_str(), &end, 10);
    if (end && *end == '\0' && !id.empty()) names[static_cast<uint32_t>(n)] = name.get<std::string>();
  }
  return names;
}

KernelCounters replay(const Recording& rec, Session& session) {
  KernelCounters kernel;
  for (const json& r : rec.records) {
    const std::string& type = r.at("type").get_ref<const std::string&>();
    if (type == "event") {
      session.on_event(event_from_hex(r.at("hex").get<std::string>()));
    } else if (type == "packet") {
      session.on_packet(packet_from_hex(r.at("hex").get<std::string>()));
    } else if (type == "tick") {
      kernel = r.at("kernel").get<KernelCounters>();
      session.tick(r.at("now_ns").get<uint64_t>(), kernel);
    } else if (type == "changes") {
      session.on_changes(r.at("changes").get<std::vector<RoutingChange>>());
    } else if (type == "existing") {
      session.add_existing(r.at("flow").get<ExistingFlow>(), r.at("now_ns").get<uint64_t>());
    } else if (type == "counted") {
      session.on_counted(counts_from_json(r.at("counts")), r.at("now_ns").get<uint64_t>());
    }
  }
  return kernel;
}

}  // namespace svctrace
