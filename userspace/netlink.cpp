// rtnetlink through libmnl: the netfilter project's minimal netlink library takes care of message
// framing, attribute validation and multipart dumps, which is where hand-written netlink goes wrong.
#include "svctrace/netlink.h"
#include "svctrace/netlink_parse.h"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <spdlog/spdlog.h>

#include <cerrno>
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

struct AttrTable {
  const nlattr* at[RTA_MAX + 1] = {};
};

int collect_attr(const nlattr* a, void* data) {
  auto* t = static_cast<AttrTable*>(data);
  int type = mnl_attr_get_type(a);
  if (type >= 0 && type <= RTA_MAX && mnl_attr_type_valid(a, RTA_MAX) >= 0) t->at[type] = a;
  return MNL_CB_OK;
}

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

std::optional<Route> parse_route_message(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg))) return std::nullopt;
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  AttrTable t;
  mnl_attr_parse(nlh, sizeof(*rtm), collect_attr, &t);
  Route r;
  r.type = rtm->rtm_type;
  r.dst_len = rtm->rtm_dst_len;
  r.protocol = rtm->rtm_protocol;
  r.scope = rtm->rtm_scope;
  r.flags = rtm->rtm_flags;
  // An attribute that is there must have its type's size, or the message is not used.
  bool ok = true;
  auto ip = [&](int type, IpAddr& out) {
    if (!t.at[type]) return;
    std::optional<IpAddr> v = attr_ip(t.at[type], rtm->rtm_family);
    if (v) out = *v;
    ok = ok && v;
  };
  auto u32 = [&](int type) -> std::optional<uint32_t> {
    if (!t.at[type]) return std::nullopt;
    std::optional<uint32_t> v = attr_u32(t.at[type]);
    ok = ok && v;
    return v;
  };
  ip(RTA_DST, r.dst);
  ip(RTA_GATEWAY, r.gateway);
  ip(RTA_PREFSRC, r.prefsrc);
  r.table = u32(RTA_TABLE).value_or(rtm->rtm_table);
  r.metric = u32(RTA_PRIORITY);
  r.oif = static_cast<int>(u32(RTA_OIF).value_or(0));
  if (!ok) return std::nullopt;
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
  return AddressMessage{static_cast<int>(a->ifa_index), {*ip, a->ifa_prefixlen}};
}

// A route message with its device named in this namespace.
static std::optional<Route> named_route(const nlmsghdr* nlh, NetlinkRouting& self) {
  std::optional<Route> r = parse_route_message(nlh);
  if (r && r->oif) r->dev = self.interface_name(r->oif);
  return r;
}

std::optional<Route> NetlinkRouting::get_route(const IpAddr& dst, bool fib_match) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = ++seq_;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = dst.family;
  rtm->rtm_dst_len = dst.size() * 8;
  rtm->rtm_flags = fib_match ? RTM_F_FIB_MATCH : 0;
  mnl_attr_put(nlh, RTA_DST, dst.size(), dst.bytes.data());

  std::optional<Route> out;
  int err = transact(sock_, portid_, nlh, false, [&](const nlmsghdr* m) {
    if (m->nlmsg_type == RTM_NEWROUTE) out = named_route(m, *this);
  });
  if (err) spdlog::debug("netlink: route {}{}: {}", fib_match ? "fibmatch " : "", dst.str(), std::strerror(-err));
  return out;
}

std::optional<Route> NetlinkRouting::fib_match(const IpAddr& dst) { return get_route(dst, true); }
std::optional<Route> NetlinkRouting::route_get(const IpAddr& dst) { return get_route(dst, false); }

std::vector<Route> NetlinkRouting::routes(uint32_t table) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETROUTE;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  std::vector<Route> out;
  int err = transact(sock_, portid_, nlh, true, [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWROUTE) return;
    std::optional<Route> r = named_route(m, *this);
    if (r && r->table == table) out.push_back(std::move(*r));
  });
  if (err) spdlog::debug("netlink: route dump: {}", std::strerror(-err));
  return out;
}

std::vector<InterfaceAddress> NetlinkRouting::addresses(int ifindex) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_GETADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = ++seq_;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_INET;
  std::vector<InterfaceAddress> out;
  int err = transact(sock_, portid_, nlh, true, [&](const nlmsghdr* m) {
    if (m->nlmsg_type != RTM_NEWADDR) return;
    std::optional<AddressMessage> a = parse_address_message(m);
    if (a && a->ifindex == ifindex) out.push_back(a->address);
  });
  if (err) spdlog::debug("netlink: address dump: {}", std::strerror(-err));
  return out;
}

std::string NetlinkRouting::interface_name(int ifindex) {
  char name[IF_NAMESIZE] = {};
  if (ifindex > 0 && if_indextoname(static_cast<unsigned>(ifindex), name)) return name;
  return ifindex > 0 ? "if" + std::to_string(ifindex) : "";
}

}  // namespace svctrace
