// rtnetlink through libmnl: the netfilter project's minimal netlink library takes care of message
// framing, attribute validation and multipart dumps, which is where hand-written netlink goes wrong.
#include "node/netlink.h"
#include "node/netlink_parse.h"

#include <libmnl/libmnl.h>
#include <fmt/format.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <time.h>
#include <net/if.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace svctrace {

namespace {

using MessageHandler = std::function<void(const nlmsghdr*)>;

int dispatch(const nlmsghdr* nlh, void* data) {
  (*static_cast<MessageHandler*>(data))(nlh);
  return MNL_CB_OK;
}

// Attribute readers for parse_*_message: nullopt when the attribute does not have the size its type
// needs (mnl_attr_type_valid() only checks the type number).
std::optional<IpAddr> attr_ip(const nlattr* a, uint8_t family) {
  IpAddr ip;
  ip.family = family;
  if ((family != AF_INET && family != AF_INET6) || mnl_attr_get_payload_len(a) != ip.size()) return std::nullopt;
  std::memcpy(ip.bytes.data(), mnl_attr_get_payload(a), ip.size());
  return ip;
}

std::optional<uint32_t> attr_u32(const nlattr* a) {
  if (mnl_attr_validate(a, MNL_TYPE_U32) < 0) return std::nullopt;
  return mnl_attr_get_u32(a);
}

std::optional<uint8_t> attr_u8(const nlattr* a) {
  if (mnl_attr_validate(a, MNL_TYPE_U8) < 0) return std::nullopt;
  return mnl_attr_get_u8(a);
}

std::optional<std::string> attr_nul_string(const nlattr* a) {
  if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) return std::nullopt;
  return mnl_attr_get_str(a);
}

struct AttrTable {
  const nlattr* at[RTA_MAX + 1] = {};
};

int collect_attr(const nlattr* a, void* data) {
  auto* t = static_cast<AttrTable*>(data);
  int type = mnl_attr_get_type(a);
  if (type >= 0 && type <= RTA_MAX && mnl_attr_type_valid(a, RTA_MAX) >= 0) t->at[type] = a;
  return MNL_CB_OK;
}

// The attributes of one message, read out of its table. An attribute that is there must have its
// type's size, or the message is not used: a parser reads every field, then asks ok() once.
class CheckedAttrs {
 public:
  CheckedAttrs(const AttrTable& t, uint8_t family) : t_(t), family_(family) {}

  std::optional<uint32_t> u32(int type) { return read(type, attr_u32); }
  std::optional<uint8_t> u8(int type) { return read(type, attr_u8); }
  std::optional<std::string> nul_string(int type) { return read(type, attr_nul_string); }
  std::optional<IpAddr> ip(int type) {
    return read(type, [this](const nlattr* a) { return attr_ip(a, family_); });
  }
  bool ok() const { return ok_; }

 private:
  // nullopt when the attribute is absent, or malformed (which ok() then tells).
  template <typename Reader>
  auto read(int type, Reader reader) -> decltype(reader(nullptr)) {
    if (!t_.at[type]) return std::nullopt;
    auto v = reader(t_.at[type]);
    ok_ = ok_ && v;
    return v;
  }

  const AttrTable& t_;
  uint8_t family_;
  bool ok_ = true;
};

}  // namespace

NetlinkRouting::NetlinkRouting() {
  sock_ = mnl_socket_open(NETLINK_ROUTE);
  if (!sock_ || mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0)
    throw std::runtime_error(std::string("cannot open rtnetlink socket: ") + std::strerror(errno));
  portid_ = mnl_socket_get_portid(sock_);
}

NetlinkRouting::~NetlinkRouting() {
  if (sock_) mnl_socket_close(sock_);
}

// Sends one request and feeds every reply message to `handle`; returns 0 or -errno.
static int transact(mnl_socket* sock, unsigned portid, nlmsghdr* nlh, bool dump, MessageHandler handle) {
  if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0) return -errno;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock, buf, sizeof buf);
    if (n < 0) return -errno;
    int ret = mnl_cb_run(buf, n, nlh->nlmsg_seq, portid, dispatch, &handle);
    if (ret < 0) return -errno;
    if (ret == MNL_CB_STOP || !dump) return 0;
  }
}

namespace {

// A route from its struct rtmsg and its RTA_* attributes, all but RTA_MULTIPATH; nullopt when an
// attribute is malformed.
std::optional<Route> route_of(const rtmsg& rtm, const AttrTable& t) {
  Route r;
  r.type = rtm.rtm_type;
  r.dst_len = rtm.rtm_dst_len;
  r.protocol = rtm.rtm_protocol;
  r.scope = rtm.rtm_scope;
  r.flags = rtm.rtm_flags;
  CheckedAttrs attrs(t, rtm.rtm_family);
  if (std::optional<IpAddr> dst = attrs.ip(RTA_DST)) r.dst = *dst;
  if (std::optional<IpAddr> gateway = attrs.ip(RTA_GATEWAY)) r.gateway = *gateway;
  if (std::optional<IpAddr> prefsrc = attrs.ip(RTA_PREFSRC)) r.prefsrc = *prefsrc;
  r.table = attrs.u32(RTA_TABLE).value_or(rtm.rtm_table);
  r.metric = attrs.u32(RTA_PRIORITY);
  r.oif = static_cast<int>(attrs.u32(RTA_OIF).value_or(0));
  r.pref = attrs.u8(RTA_PREF);
  if (!attrs.ok()) return std::nullopt;
  return r;
}

// One path of a multipath route: its struct rtnexthop (whose rtnh_len bytes the caller has checked
// are there) and the attributes after it, of which svctrace reads RTA_GATEWAY. nullopt when an
// attribute overruns the rtnexthop or is malformed.
std::optional<Nexthop> nexthop_of(const rtnexthop& nh, uint8_t family) {
  Nexthop hop;
  hop.oif = nh.rtnh_ifindex;
  hop.weight = nh.rtnh_hops + 1u;
  hop.flags = nh.rtnh_flags;
  size_t attrs_len = nh.rtnh_len - RTNH_ALIGN(sizeof(rtnexthop));
  const uint8_t* attrs = reinterpret_cast<const uint8_t*>(&nh) + RTNH_ALIGN(sizeof(rtnexthop));
  for (size_t off = 0; off + sizeof(nlattr) <= attrs_len;) {
    auto* a = reinterpret_cast<const nlattr*>(attrs + off);
    if (a->nla_len < sizeof(nlattr) || off + a->nla_len > attrs_len) return std::nullopt;
    if (mnl_attr_get_type(a) == RTA_GATEWAY) {
      std::optional<IpAddr> gw = attr_ip(a, family);
      if (!gw) return std::nullopt;
      hop.gateway = *gw;
    }
    off += MNL_ALIGN(a->nla_len);
  }
  return hop;
}

// RTA_MULTIPATH: a sequence of struct rtnexthop, each followed by its own attributes. nullopt when a
// path overruns the attribute or is malformed.
std::optional<std::vector<Nexthop>> multipath_of(const nlattr* mp, uint8_t family) {
  std::vector<Nexthop> hops;
  auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(mp));
  size_t left = mnl_attr_get_payload_len(mp);
  while (left >= sizeof(rtnexthop)) {
    auto* nh = reinterpret_cast<const rtnexthop*>(p);
    if (nh->rtnh_len < sizeof(rtnexthop) || nh->rtnh_len > left) return std::nullopt;
    std::optional<Nexthop> hop = nexthop_of(*nh, family);
    if (!hop) return std::nullopt;
    hops.push_back(std::move(*hop));
    size_t step = RTNH_ALIGN(nh->rtnh_len);
    if (step >= left) break;
    p += step;
    left -= step;
  }
  return hops;
}

}  // namespace

std::optional<Route> parse_route_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg))) return std::nullopt;
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  AttrTable t;
  mnl_attr_parse(nlh, sizeof(*rtm), collect_attr, &t);
  std::optional<Route> r = route_of(*rtm, t);
  if (r && t.at[RTA_MULTIPATH]) {
    std::optional<std::vector<Nexthop>> hops = multipath_of(t.at[RTA_MULTIPATH], rtm->rtm_family);
    if (!hops) return std::nullopt;
    r->nexthops = std::move(*hops);
  }
  return r;
}

std::optional<AddressMessage> parse_address_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifaddrmsg))) return std::nullopt;
  auto* a = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  AttrTable t;  // IFA_* attribute numbers fit in the same table
  mnl_attr_parse(nlh, sizeof(*a), collect_attr, &t);
  const nlattr* addr = t.at[IFA_LOCAL] ? t.at[IFA_LOCAL] : t.at[IFA_ADDRESS];
  std::optional<IpAddr> ip = addr ? attr_ip(addr, a->ifa_family) : std::nullopt;
  if (!ip) return std::nullopt;
  int ifindex = static_cast<int>(a->ifa_index);
  return AddressMessage{ifindex, {*ip, a->ifa_prefixlen, ifindex}};
}

// A route message with its devices named in this namespace.
// Sends one dump request: rtmsg, ifaddrmsg, ifinfomsg and fib_rule_hdr all begin with their family byte.
static void dump(mnl_socket* sock, unsigned portid, unsigned seq, uint16_t type, uint8_t family, size_t header_size,
                 const MessageHandler& handle) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  *static_cast<uint8_t*>(mnl_nlmsg_put_extra_header(nlh, header_size)) = family;
  if (int err = transact(sock, portid, nlh, true, handle))
    spdlog::debug("netlink: dump of message type {}: {}", type, std::strerror(-err));
}

static std::optional<Route> named_route(const nlmsghdr* nlh, RoutingView& self) {
  std::optional<Route> r = parse_route_message(nlh);
  if (!r) return r;
  if (r->oif) r->dev = self.interface_name(r->oif);
  for (auto& hop : r->nexthops) hop.dev = self.interface_name(hop.oif);
  return r;
}

std::optional<Route> NetlinkRouting::get_route(const IpAddr& dst, int vrf, bool fib_match) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = ++seq_;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = dst.family;
  rtm->rtm_dst_len = dst.size() * 8;
  // RTM_F_LOOKUP_TABLE: report the table the lookup really used (else the kernel says main), as
  // `ip route get` asks too.
  rtm->rtm_flags = RTM_F_LOOKUP_TABLE | (fib_match ? RTM_F_FIB_MATCH : 0);
  mnl_attr_put(nlh, RTA_DST, dst.size(), dst.bytes.data());
  // In a VRF: the VRF device as the output device, as `ip route get ... vrf NAME` sends it. The kernel
  // sets the lookup's l3mdev from it (l3mdev_update_flow()), so the l3mdev rule sends it to the VRF's
  // table, as it does a socket bound to the VRF.
  if (vrf > 0) mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(vrf));

  std::optional<Route> out;
  int err = transact(sock_, portid_, nlh, false, [&](const nlmsghdr* m) {
    if (m->nlmsg_type == RTM_NEWROUTE) out = named_route(m, *this);
  });
  if (err)
    spdlog::debug("netlink: route {}{}{}: {}", fib_match ? "fibmatch " : "", dst.str(),
                  vrf > 0 ? " vrf " + interface_name(vrf) : "", std::strerror(-err));
  return out;
}

std::vector<std::string> NetlinkRouting::dump_messages(uint16_t type, size_t header_size) {
  std::vector<std::string> out;
  dump(sock_, portid_, ++seq_, type, AF_UNSPEC, header_size, [&](const nlmsghdr* m) {
    if (m->nlmsg_type == type - 2)  // RTM_GETLINK -> RTM_NEWLINK, and so on
      out.emplace_back(reinterpret_cast<const char*>(m), m->nlmsg_len);
  });
  return out;
}

int NetlinkRouting::change(nlmsghdr* nlh) {
  nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = ++seq_;
  nlh->nlmsg_pid = 0;
  return transact(sock_, portid_, nlh, false, [](const nlmsghdr*) {});
}

std::optional<Route> NetlinkRouting::fib_match(const IpAddr& dst, int vrf) { return get_route(dst, vrf, true); }
std::optional<Route> NetlinkRouting::route_get(const IpAddr& dst, int vrf) { return get_route(dst, vrf, false); }

std::vector<Vrf> NetlinkRouting::vrfs() {
  std::vector<LinkMessage> links;
  dump(sock_, portid_, ++seq_, RTM_GETLINK, AF_UNSPEC, sizeof(ifinfomsg), [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWLINK) return;
    if (std::optional<LinkMessage> l = parse_link_message(m)) links.push_back(std::move(*l));
  });
  return vrfs_of(links);
}

std::vector<Route> NetlinkRouting::routes(uint32_t table) {
  std::vector<Route> out;
  for (auto& r : all_routes())
    if (r.table == table) out.push_back(std::move(r));
  return out;
}

std::vector<Route> NetlinkRouting::all_routes() {
  std::vector<Route> out;
  dump(sock_, portid_, ++seq_, RTM_GETROUTE, AF_UNSPEC, sizeof(rtmsg), [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWROUTE) return;
    if (std::optional<Route> r = named_route(m, *this)) out.push_back(std::move(*r));
  });
  return out;
}

std::vector<InterfaceAddress> NetlinkRouting::addresses(int ifindex) {
  std::vector<InterfaceAddress> out;
  for (auto& a : all_addresses())
    if (a.ifindex == ifindex) out.push_back(a);
  return out;
}

std::vector<InterfaceAddress> NetlinkRouting::all_addresses() {
  std::vector<InterfaceAddress> out;
  dump(sock_, portid_, ++seq_, RTM_GETADDR, AF_UNSPEC, sizeof(ifaddrmsg), [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWADDR) return;
    if (std::optional<AddressMessage> a = parse_address_message(m)) out.push_back(a->address);
  });
  return out;
}

NetlinkMonitor::NetlinkMonitor() {
  sock_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
  unsigned groups = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR |
                    (1u << (RTNLGRP_IPV4_RULE - 1)) | (1u << (RTNLGRP_IPV6_RULE - 1));
  if (!sock_ || mnl_socket_bind(sock_, groups, MNL_SOCKET_AUTOPID) < 0)
    throw std::runtime_error(std::string("cannot watch rtnetlink: ") + std::strerror(errno));
}

NetlinkMonitor::~NetlinkMonitor() {
  if (sock_) mnl_socket_close(sock_);
}

std::optional<Rule> parse_rule_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(fib_rule_hdr))) return std::nullopt;
  auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
  AttrTable t;  // FRA_* numbers fit the same table
  mnl_attr_parse(nlh, sizeof(*frh), collect_attr, &t);
  Rule r;
  r.action = frh->action;
  CheckedAttrs attrs(t, frh->family);
  r.priority = attrs.u32(FRA_PRIORITY).value_or(0);
  r.table = attrs.u32(FRA_TABLE).value_or(frh->table);
  if (std::optional<IpAddr> src = attrs.ip(FRA_SRC)) r.from = Cidr{*src, frh->src_len};
  if (std::optional<IpAddr> dst = attrs.ip(FRA_DST)) r.to = Cidr{*dst, frh->dst_len};
  r.fwmark = attrs.u32(FRA_FWMARK);
  r.goto_target = attrs.u32(FRA_GOTO).value_or(0);
  if (std::optional<std::string> iif = attrs.nul_string(FRA_IIFNAME)) r.iif = *iif;
  if (std::optional<uint8_t> l3mdev = attrs.u8(FRA_L3MDEV)) r.l3mdev = *l3mdev != 0;
  if (!attrs.ok()) return std::nullopt;
  return r;
}

std::optional<LinkMessage> parse_link_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifinfomsg))) return std::nullopt;
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  AttrTable t;  // IFLA_IFNAME, IFLA_MASTER and IFLA_LINKINFO fit the same table
  mnl_attr_parse(nlh, sizeof(*ifi), collect_attr, &t);
  LinkMessage l;
  l.ifindex = ifi->ifi_index;
  l.flags = ifi->ifi_flags;
  if (t.at[IFLA_IFNAME]) {
    if (mnl_attr_validate(t.at[IFLA_IFNAME], MNL_TYPE_NUL_STRING) < 0) return std::nullopt;
    l.name = mnl_attr_get_str(t.at[IFLA_IFNAME]);
  }
  if (t.at[IFLA_MASTER]) {
    std::optional<uint32_t> m = attr_u32(t.at[IFLA_MASTER]);
    if (!m) return std::nullopt;
    l.master = static_cast<int>(*m);
  }
  if (const nlattr* info = t.at[IFLA_LINKINFO]) {
    if (mnl_attr_validate(info, MNL_TYPE_NESTED) < 0) return std::nullopt;
    AttrTable li;
    mnl_attr_parse_nested(info, collect_attr, &li);
    if (li.at[IFLA_INFO_KIND]) {
      if (mnl_attr_validate(li.at[IFLA_INFO_KIND], MNL_TYPE_STRING) < 0) return std::nullopt;
      // Not NUL-terminated by every sender: take the payload's bytes up to the first NUL.
      const char* k = static_cast<const char*>(mnl_attr_get_payload(li.at[IFLA_INFO_KIND]));
      l.kind.assign(k, strnlen(k, mnl_attr_get_payload_len(li.at[IFLA_INFO_KIND])));
    }
    if (l.kind == "vrf" && li.at[IFLA_INFO_DATA]) {
      if (mnl_attr_validate(li.at[IFLA_INFO_DATA], MNL_TYPE_NESTED) < 0) return std::nullopt;
      AttrTable data;
      mnl_attr_parse_nested(li.at[IFLA_INFO_DATA], collect_attr, &data);
      if (data.at[IFLA_VRF_TABLE]) {
        l.vrf_table = attr_u32(data.at[IFLA_VRF_TABLE]);
        if (!l.vrf_table) return std::nullopt;
      }
    }
  }
  return l;
}

std::vector<Vrf> vrfs_of(const std::vector<LinkMessage>& links) {
  std::vector<Vrf> out;
  for (const auto& l : links)
    if (l.kind == "vrf" && l.vrf_table) out.push_back({l.ifindex, l.name, *l.vrf_table, {}});
  for (const auto& l : links)
    for (auto& v : out)
      if (l.master == v.ifindex) v.members.push_back(l.ifindex);
  return out;
}

std::vector<Rule> NetlinkRouting::rules(uint8_t family) {
  std::vector<Rule> out;
  dump(sock_, portid_, ++seq_, RTM_GETRULE, family, sizeof(fib_rule_hdr), [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWRULE) return;
    if (std::optional<Rule> r = parse_rule_message(m)) out.push_back(std::move(*r));
  });
  std::stable_sort(out.begin(), out.end(), [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
  return out;
}

static std::optional<RoutingChange> parse_change(const nlmsghdr* nlh, RoutingView& names) {
  RoutingChange c;
  c.deleted = nlh->nlmsg_type == RTM_DELROUTE || nlh->nlmsg_type == RTM_DELADDR || nlh->nlmsg_type == RTM_DELRULE;
  switch (nlh->nlmsg_type) {
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      std::optional<Route> r = named_route(nlh, names);
      auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
      // The kernel's own local/broadcast routes come and go with addresses: the address says it.
      if (!r || (rtm->rtm_flags & RTM_F_CLONED) || r->table == kTableLocal) return std::nullopt;
      c.kind = RoutingChangeKind::Route;
      c.what = format_route(*r);
      IpAddr base = r->dst.is_set() ? r->dst : IpAddr{rtm->rtm_family, {}};
      c.covers = Cidr{base, r->dst_len};
      c.dev = r->dev;
      return c;
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      std::optional<AddressMessage> a = parse_address_message(nlh);
      if (!a) return std::nullopt;
      c.kind = RoutingChangeKind::Address;
      c.dev = names.interface_name(a->ifindex);
      c.covers = Cidr{a->address.addr, static_cast<uint8_t>(a->address.addr.size() * 8)};
      c.what = fmt::format("{}/{} dev {}", a->address.addr.str(), a->address.prefix_len, c.dev);
      return c;
    }
    case RTM_NEWRULE:
    case RTM_DELRULE: {
      std::optional<Rule> r = parse_rule_message(nlh);
      if (!r) return std::nullopt;
      auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
      c.kind = RoutingChangeKind::Rule;
      c.covers = r->to.value_or(Cidr{IpAddr{frh->family, {}}, 0});
      c.what = format_rule(*r);
      return c;
    }
    default: return std::nullopt;
  }
}

std::vector<RoutingChange> NetlinkMonitor::changes(RoutingView& names) {
  std::vector<RoutingChange> out;
  char buf[MNL_SOCKET_BUFFER_SIZE];
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: nothing more now (ENOBUFS: changes lost; the next read goes on)
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
    MessageHandler handle = [&](const nlmsghdr* m) {
      if (auto c = parse_change(m, names)) {
        c->ts_ns = now;
        out.push_back(std::move(*c));
      }
    };
    mnl_cb_run(buf, n, 0, 0, dispatch, &handle);
  }
  return out;
}

std::string NetlinkRouting::interface_name(int ifindex) {
  if (ifindex <= 0) return "";
  // if_indextoname() opens a socket per call and every flow line names devices: remember names
  // for a few seconds (an interface renamed or replaced shows up after that).
  auto now = std::chrono::steady_clock::now();
  if (now - names_taken_ > std::chrono::seconds(5)) {
    names_.clear();
    names_taken_ = now;
  }
  if (auto it = names_.find(ifindex); it != names_.end()) return it->second;
  char name[IF_NAMESIZE] = {};
  std::string n;
  if (if_indextoname(static_cast<unsigned>(ifindex), name)) {
    n = name;
    if (names_ever_.size() >= 4096) names_ever_.clear();
    names_ever_[ifindex] = n;
  } else if (auto ever = names_ever_.find(ifindex); ever != names_ever_.end()) {
    n = ever->second;  // deleted since (a namespace's ifindexes are not reused)
  } else {
    n = "if" + std::to_string(ifindex);
  }
  names_[ifindex] = n;
  return n;
}

}  // namespace svctrace
