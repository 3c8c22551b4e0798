#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <vector>

#include "node/netlink_parse.h"

using namespace svctrace;

namespace {

// One rtnetlink message built as the kernel sends it, in a buffer of its own.
struct Message {
  std::vector<char> buf = std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());

  template <typename Header>
  Header* header(uint16_t type) {
    nlh->nlmsg_type = type;
    return static_cast<Header*>(mnl_nlmsg_put_extra_header(nlh, sizeof(Header)));
  }
  void ip(uint16_t type, const char* text) {
    in_addr a{};
    inet_pton(AF_INET, text, &a);
    mnl_attr_put(nlh, type, sizeof a, &a);
  }
};

std::string text(const IpAddr& ip) { return ip.str(); }

}  // namespace

TEST_CASE("an RTM_NEWROUTE message becomes the route `ip route` shows", "[netlink]") {
  Message m;
  auto* rtm = m.header<rtmsg>(RTM_NEWROUTE);
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 12;
  rtm->rtm_table = RT_TABLE_COMPAT;  // the real table is in RTA_TABLE
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_type = RTN_UNICAST;
  m.ip(RTA_DST, "10.96.0.0");
  m.ip(RTA_GATEWAY, "192.168.99.1");
  m.ip(RTA_PREFSRC, "192.168.99.7");
  mnl_attr_put_u32(m.nlh, RTA_TABLE, 200);
  mnl_attr_put_u32(m.nlh, RTA_PRIORITY, 100);
  mnl_attr_put_u32(m.nlh, RTA_OIF, 7);

  std::optional<Route> r = parse_route_message(m.nlh);
  REQUIRE(r);
  CHECK(text(r->dst) == "10.96.0.0");
  CHECK(r->dst_len == 12);
  CHECK(text(r->gateway) == "192.168.99.1");
  CHECK(text(r->prefsrc) == "192.168.99.7");
  CHECK(r->table == 200);
  CHECK(r->metric == 100u);
  CHECK(r->oif == 7);
  CHECK(r->dev.empty());  // named by NetlinkRouting, in the traced namespace
  r->dev = "mgmt0";
  CHECK(format_route(*r) == "10.96.0.0/12 via 192.168.99.1 dev mgmt0 table 200 proto static src 192.168.99.7 metric 100");
}

TEST_CASE("a default route message has no destination and takes its table from the header", "[netlink]") {
  Message m;
  auto* rtm = m.header<rtmsg>(RTM_NEWROUTE);
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_type = RTN_UNICAST;
  m.ip(RTA_GATEWAY, "10.141.13.1");
  std::optional<Route> r = parse_route_message(m.nlh);
  REQUIRE(r);
  CHECK_FALSE(r->dst.is_set());
  CHECK(r->table == kTableMain);
  CHECK_FALSE(r->metric);
  CHECK(r->oif == 0);
}

// Found by fuzz/fuzz_netlink: messages the kernel does not send must not be read past their end, nor
// give a route made of garbage.
TEST_CASE("malformed route messages are not used", "[netlink]") {
  SECTION("shorter than struct rtmsg") {
    Message m;
    m.header<rtmsg>(RTM_NEWROUTE);
    m.nlh->nlmsg_len = mnl_nlmsg_size(sizeof(rtmsg) - 1);
    CHECK_FALSE(parse_route_message(m.nlh));
  }
  SECTION("a u32 attribute of two bytes") {
    Message m;
    m.header<rtmsg>(RTM_NEWROUTE)->rtm_family = AF_INET;
    mnl_attr_put_u16(m.nlh, RTA_OIF, 3);
    CHECK_FALSE(parse_route_message(m.nlh));
  }
  SECTION("an IPv4 destination of two bytes") {
    Message m;
    m.header<rtmsg>(RTM_NEWROUTE)->rtm_family = AF_INET;
    mnl_attr_put_u16(m.nlh, RTA_DST, 0xac18);
    CHECK_FALSE(parse_route_message(m.nlh));
  }
  SECTION("an address of a family that is neither IPv4 nor IPv6") {
    Message m;
    m.header<rtmsg>(RTM_NEWROUTE)->rtm_family = AF_BRIDGE;
    m.ip(RTA_GATEWAY, "10.0.0.1");
    CHECK_FALSE(parse_route_message(m.nlh));
  }
}

TEST_CASE("an RTM_NEWADDR message gives its interface and local address", "[netlink]") {
  Message m;
  auto* ifa = m.header<ifaddrmsg>(RTM_NEWADDR);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 24;
  ifa->ifa_index = 2;
  m.ip(IFA_ADDRESS, "10.0.0.99");  // the peer on point-to-point links; IFA_LOCAL is ours
  m.ip(IFA_LOCAL, "10.0.0.12");
  std::optional<AddressMessage> a = parse_address_message(m.nlh);
  REQUIRE(a);
  CHECK(a->ifindex == 2);
  CHECK(text(a->address.addr) == "10.0.0.12");
  CHECK(a->address.prefix_len == 24);

  Message none;
  none.header<ifaddrmsg>(RTM_NEWADDR)->ifa_family = AF_INET;
  CHECK_FALSE(parse_address_message(none.nlh));

  Message shorter;
  shorter.header<ifaddrmsg>(RTM_NEWADDR);
  shorter.nlh->nlmsg_len = mnl_nlmsg_size(sizeof(ifaddrmsg) - 1);
  CHECK_FALSE(parse_address_message(shorter.nlh));
}

TEST_CASE("an RTM_NEWRULE with FRA_L3MDEV is the l3mdev rule `ip rule` shows", "[netlink][vrf]") {
  // As the kernel's VRF driver adds it (vrf_fib_rule()): FRA_L3MDEV 1, priority 1000, no table.
  Message m;
  auto* frh = m.header<fib_rule_hdr>(RTM_NEWRULE);
  frh->family = AF_INET;
  frh->action = FR_ACT_TO_TBL;
  mnl_attr_put_u32(m.nlh, FRA_TABLE, 0);
  mnl_attr_put_u32(m.nlh, FRA_PRIORITY, 1000);
  mnl_attr_put_u8(m.nlh, FRA_L3MDEV, 1);
  mnl_attr_put_u8(m.nlh, FRA_PROTOCOL, RTPROT_KERNEL);
  std::optional<Rule> r = parse_rule_message(m.nlh);
  REQUIRE(r);
  CHECK(r->l3mdev);
  CHECK(r->table == 0);
  CHECK(r->priority == 1000);
  CHECK(format_rule(*r) == "1000:\tfrom all lookup [l3mdev-table]");

  // `ip rule add pref 1001 l3mdev unreachable`: VRF lookups that miss their table stop there.
  frh->action = FR_ACT_UNREACHABLE;
  r = parse_rule_message(m.nlh);
  REQUIRE(r);
  CHECK(format_rule(*r) == "1000:\tfrom all lookup [l3mdev-table] unreachable");
}

TEST_CASE("an ordinary rule message: selectors, table, and no l3mdev", "[netlink]") {
  Message m;
  auto* frh = m.header<fib_rule_hdr>(RTM_NEWRULE);
  frh->family = AF_INET;
  frh->dst_len = 13;
  frh->table = RT_TABLE_COMPAT;
  frh->action = FR_ACT_TO_TBL;
  m.ip(FRA_DST, "172.24.0.0");
  mnl_attr_put_u32(m.nlh, FRA_TABLE, 200);
  mnl_attr_put_u32(m.nlh, FRA_PRIORITY, 900);
  mnl_attr_put_u32(m.nlh, FRA_FWMARK, 0x4000);
  mnl_attr_put_strz(m.nlh, FRA_IIFNAME, "lo");
  std::optional<Rule> r = parse_rule_message(m.nlh);
  REQUIRE(r);
  CHECK_FALSE(r->l3mdev);
  CHECK(format_rule(*r) == "900:\tfrom all to 172.24.0.0/13 fwmark 0x4000 iif lo lookup 200");
}

TEST_CASE("malformed rule messages are not used", "[netlink]") {
  Message shorter;
  shorter.header<fib_rule_hdr>(RTM_NEWRULE);
  shorter.nlh->nlmsg_len = mnl_nlmsg_size(sizeof(fib_rule_hdr) - 1);
  CHECK_FALSE(parse_rule_message(shorter.nlh));
  // An attribute without the size of its type: an FRA_L3MDEV without its byte, a priority of two bytes.
  for (auto put : {+[](nlmsghdr* n) { mnl_attr_put(n, FRA_L3MDEV, 0, nullptr); },
                   +[](nlmsghdr* n) { mnl_attr_put_u16(n, FRA_PRIORITY, 1000); }}) {
    Message m;
    m.header<fib_rule_hdr>(RTM_NEWRULE)->family = AF_INET;
    put(m.nlh);
    CHECK_FALSE(parse_rule_message(m.nlh));
  }
}

namespace {

// An RTM_NEWLINK as the kernel sends it for `ip link add NAME type KIND [table T]`, enslaved to master.
Message link(int ifindex, const char* name, const char* kind, int master = 0, uint32_t vrf_table = 0) {
  Message m;
  auto* ifi = m.header<ifinfomsg>(RTM_NEWLINK);
  ifi->ifi_index = ifindex;
  mnl_attr_put_strz(m.nlh, IFLA_IFNAME, name);
  if (master) mnl_attr_put_u32(m.nlh, IFLA_MASTER, static_cast<uint32_t>(master));
  nlattr* info = mnl_attr_nest_start(m.nlh, IFLA_LINKINFO);
  mnl_attr_put_str(m.nlh, IFLA_INFO_KIND, kind);
  if (vrf_table) {
    nlattr* data = mnl_attr_nest_start(m.nlh, IFLA_INFO_DATA);
    mnl_attr_put_u32(m.nlh, IFLA_VRF_TABLE, vrf_table);
    mnl_attr_nest_end(m.nlh, data);
  }
  mnl_attr_nest_end(m.nlh, info);
  return m;
}

}  // namespace

TEST_CASE("RTM_NEWLINK messages name the VRF devices, their tables and their members", "[netlink][vrf]") {
  Message vrf = link(7, "vrf-blue", "vrf", 0, 10);
  Message enslf0 = link(2, "enslf0", "veth", 7);
  Message enslf1 = link(3, "enslf1", "veth");
  std::vector<LinkMessage> links;
  for (Message* m : {&vrf, &enslf0, &enslf1}) {
    std::optional<LinkMessage> l = parse_link_message(m->nlh);
    REQUIRE(l);
    links.push_back(*l);
  }
  CHECK(links[0].kind == "vrf");
  CHECK(links[0].vrf_table == 10u);
  CHECK(links[1].master == 7);
  CHECK(links[1].name == "enslf0");
  CHECK_FALSE(links[2].vrf_table);

  std::vector<Vrf> vrfs = vrfs_of(links);
  REQUIRE(vrfs.size() == 1);
  CHECK(vrfs[0].name == "vrf-blue");
  CHECK(vrfs[0].ifindex == 7);
  CHECK(vrfs[0].table == 10);
  CHECK(vrfs[0].members == std::vector<int>{2});

  // Malformed: a master of two bytes; a VRF table of two bytes.
  Message bad_master;
  bad_master.header<ifinfomsg>(RTM_NEWLINK)->ifi_index = 2;
  mnl_attr_put_u16(bad_master.nlh, IFLA_MASTER, 7);
  CHECK_FALSE(parse_link_message(bad_master.nlh));
  Message bad_table;
  bad_table.header<ifinfomsg>(RTM_NEWLINK)->ifi_index = 7;
  nlattr* info = mnl_attr_nest_start(bad_table.nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(bad_table.nlh, IFLA_INFO_KIND, "vrf");
  nlattr* data = mnl_attr_nest_start(bad_table.nlh, IFLA_INFO_DATA);
  mnl_attr_put_u16(bad_table.nlh, IFLA_VRF_TABLE, 10);
  mnl_attr_nest_end(bad_table.nlh, data);
  mnl_attr_nest_end(bad_table.nlh, info);
  CHECK_FALSE(parse_link_message(bad_table.nlh));
}
