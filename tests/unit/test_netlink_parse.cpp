#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <vector>

#include "svctrace/netlink_parse.h"

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
