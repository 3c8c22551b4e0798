#include "node/routing_mirror.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "node/conntrack.h"
#include "node/netlink_parse.h"
#include "node/netns.h"

namespace svctrace {

namespace {

nlmsghdr* new_link_message(char* buf, const LinkMessage& l, uint16_t flags) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = flags;
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = l.ifindex;  // the node's: routes, rules and VRF lookups name devices by it
  return nlh;
}

// A device of `kind` (or a VRF with its table) with l's ifindex and name.
int create_link(NetlinkRouting& mirror, const LinkMessage& l, const char* kind) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = new_link_message(buf, l, NLM_F_CREATE | NLM_F_EXCL);
  mnl_attr_put_strz(nlh, IFLA_IFNAME, l.name.c_str());
  nlattr* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  const bool vrf = l.kind == "vrf" && l.vrf_table;
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, vrf ? "vrf" : kind);
  if (vrf) {
    nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32(nlh, IFLA_VRF_TABLE, *l.vrf_table);
    mnl_attr_nest_end(nlh, data);
  }
  mnl_attr_nest_end(nlh, info);
  return mirror.change(nlh);
}

// l's master, and up if l is.
int set_link(NetlinkRouting& mirror, const LinkMessage& l) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = new_link_message(buf, l, 0);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  ifi->ifi_flags = l.flags & IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (l.master) mnl_attr_put_u32(nlh, IFLA_MASTER, static_cast<uint32_t>(l.master));
  return mirror.change(nlh);
}

sockaddr_storage socket_address(const IpAddr& ip, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (ip.family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    std::memcpy(&a->sin6_addr, ip.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, ip.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  }
  return ss;
}

// One packet from `from` to `to`:`port` in the calling thread's namespace: a TCP SYN (a non-blocking
// connect, left in progress) or a one-byte UDP datagram. The socket is returned open, so that the
// connection's conntrack entry is read before anything could end it; -1 when it could not be sent.
int send_one(uint8_t proto, const IpAddr& from, const IpAddr& to, uint16_t port) {
  const bool tcp = proto == IPPROTO_TCP;
  const int s = socket(from.family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  socklen_t len = 0;
  sockaddr_storage src = socket_address(from, 0, len);
  sockaddr_storage dst = socket_address(to, port, len);
  const bool sent = bind(s, reinterpret_cast<sockaddr*>(&src), len) == 0 &&
                    (connect(s, reinterpret_cast<sockaddr*>(&dst), len) == 0 ? tcp || send(s, "?", 1, 0) == 1
                                                                             : tcp && errno == EINPROGRESS);
  if (sent) return s;
  spdlog::debug("scratch namespace: no packet from {} to {}:{}: {}", from.str(), to.str(), port, std::strerror(errno));
  close(s);
  return -1;
}

bool cloned_route(const std::string& message) {
  const auto* nlh = reinterpret_cast<const nlmsghdr*>(message.data());
  return static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh))->rtm_flags & RTM_F_CLONED;
}

}  // namespace

RoutingMirror::RoutingMirror() {
  NetlinkRouting live;  // made on the calling thread: its socket is in the node's namespace
  std::exception_ptr failure;
  std::thread maker([&] {
    try {
      // CLONE_NEWNET moves only this thread, which ends here; the fd and the sockets hold the namespace.
      if (unshare(CLONE_NEWNET) != 0)
        throw NetnsError(fmt::format("cannot make a scratch network namespace: {}", std::strerror(errno)), false);
      fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) throw std::runtime_error(fmt::format("cannot hold the scratch namespace: {}", std::strerror(errno)));
      routing_ = std::make_unique<NetlinkRouting>();
      build(live);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  maker.join();
  if (!failure) return;
  routing_.reset();
  if (fd_ >= 0) close(fd_);
  std::rethrow_exception(failure);
}

RoutingMirror::~RoutingMirror() {
  routing_.reset();
  if (fd_ >= 0) close(fd_);
}

void RoutingMirror::build(NetlinkRouting& live) {
  copy_links(live);
  replay(live.dump_messages(RTM_GETADDR, sizeof(ifaddrmsg)), false);
  replay(live.dump_messages(RTM_GETRULE, sizeof(fib_rule_hdr)), false);
  replay(live.dump_messages(RTM_GETROUTE, sizeof(rtmsg)), true);
  spdlog::debug("scratch namespace: {} of the node's links, addresses, rules and routes copied, {} refused", copied_,
                refused_);
}

void RoutingMirror::copy_links(NetlinkRouting& live) {
  std::vector<LinkMessage> links;
  for (const std::string& m : live.dump_messages(RTM_GETLINK, sizeof(ifinfomsg)))
    if (auto l = parse_link_message(reinterpret_cast<const nlmsghdr*>(m.data()))) links.push_back(std::move(*l));
  // A dummy device stands for each; a kernel built without them (CONFIG_DUMMY) gets an empty bridge,
  // which has no carrier, but an IPv4 or IPv6 lookup does not ask for one (ignore_routes_with_linkdown
  // is off in a new namespace).
  const char* kind = "dummy";
  for (const LinkMessage& l : links) {
    if (l.name == "lo") continue;  // every namespace has its own, ifindex 1
    int err = create_link(*routing_, l, kind);
    if (err == -EOPNOTSUPP && std::strcmp(kind, "dummy") == 0) {
      spdlog::debug("scratch namespace: no dummy devices in this kernel, bridges stand for the node's devices");
      kind = "bridge";
      err = create_link(*routing_, l, kind);
    }
    if (err)
      throw std::runtime_error(fmt::format("cannot copy device {} into the scratch namespace: {}", l.name,
                                           std::strerror(-err)));
    ++copied_;
  }
  // Masters once every device exists; a VRF's members are enslaved before they come up.
  for (const LinkMessage& l : links)
    if (int err = set_link(*routing_, l))
      throw std::runtime_error(fmt::format("cannot set device {} up in the scratch namespace: {}", l.name,
                                           std::strerror(-err)));
}

// Sends the node's messages as changes. The kernel made some already (an address's local and connected
// routes, the default rules, the l3mdev rule): EEXIST is expected. A route through a gateway needs the
// route that reaches the gateway first: routes are sent twice, and only the second refusal counts.
void RoutingMirror::replay(const std::vector<std::string>& messages, bool routes) {
  std::vector<std::string> retry;
  for (int pass = 0; pass < (routes ? 2 : 1); ++pass) {
    const std::vector<std::string>& todo = pass == 0 ? messages : retry;
    std::vector<std::string> refused;
    for (const std::string& m : todo) {
      if (routes && cloned_route(m)) continue;
      std::string copy = m;
      auto* nlh = reinterpret_cast<nlmsghdr*>(copy.data());
      nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
      const int err = routing_->change(nlh);
      if (err == 0) ++copied_;
      else if (err != -EEXIST) refused.push_back(m);
    }
    if (pass == 0 && routes) retry = std::move(refused);
    else refused_ += refused.size();
  }
}

std::string RoutingMirror::add_route(const Route& r) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWROUTE;
  nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;  // as `ip route replace`
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = r.dst.family;
  rtm->rtm_dst_len = r.dst_len;
  rtm->rtm_table = static_cast<uint8_t>(r.table < 256 ? r.table : RT_TABLE_UNSPEC);
  rtm->rtm_protocol = RTPROT_BOOT;
  rtm->rtm_scope = r.gateway.is_set() ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
  if (r.dst_len) mnl_attr_put(nlh, RTA_DST, r.dst.size(), r.dst.bytes.data());
  if (r.oif) mnl_attr_put_u32(nlh, RTA_OIF, static_cast<uint32_t>(r.oif));
  if (r.gateway.is_set()) mnl_attr_put(nlh, RTA_GATEWAY, r.gateway.size(), r.gateway.bytes.data());
  if (r.prefsrc.is_set()) mnl_attr_put(nlh, RTA_PREFSRC, r.prefsrc.size(), r.prefsrc.bytes.data());
  const int err = routing_->change(nlh);
  return err ? std::strerror(-err) : "";
}

std::string RoutingMirror::run(const std::string& command) {
  const pid_t pid = fork();
  if (pid < 0) return std::strerror(errno);
  if (pid == 0) {  // only async-signal-safe calls until exec: the parent has threads
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    if (setns(fd_, CLONE_NEWNET) != 0) _exit(126);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return std::strerror(errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status)) : "killed by a signal";
}

std::optional<IpAddr> RoutingMirror::source_after_nat(uint8_t proto, const IpAddr& from, const IpAddr& to,
                                                      uint16_t port) {
  std::optional<IpAddr> seen;
  std::thread prober([&] {  // a thread of its own enters the mirror, so the process never does
    try {
      if (setns(fd_, CLONE_NEWNET) != 0) throw std::runtime_error(std::strerror(errno));
      const int s = send_one(proto, from, to, port);
      if (s < 0) return;
      std::vector<ExistingFlow> flows;
      try {
        flows = existing_flows({Cidr{to, static_cast<uint8_t>(to.size() * 8)}}, 0);
      } catch (...) {
        close(s);
        throw;
      }
      close(s);
      for (const ExistingFlow& f : flows)
        if (f.key.proto == proto && f.key.src == from && f.key.dport == port) seen = f.snat_ip.value_or(from);
      if (!seen) spdlog::debug("scratch namespace: no conntrack entry for {} to {}:{}", from.str(), to.str(), port);
    } catch (const std::exception& e) {
      spdlog::debug("scratch namespace: the NAT step could not be asked: {}", e.what());
    }
  });
  prober.join();
  return seen;
}

}  // namespace svctrace
