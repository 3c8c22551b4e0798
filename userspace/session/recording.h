// `--record FILE` and `svctrace replay FILE`: a capture of one session that someone who was not there
// replays offline, through the same correlator and diagnosis, to the same verdicts.
//
// The file is NDJSON, one object per line, each with "type", in the order things happened:
//   header    the first line: format version, CIDRs, namespace, options, the kernel's drop reason names
//   event     one struct svc_event as the ring buffer delivered it ("hex": its bytes)
//   packet    one struct svc_packet (--pcap): a packet's captured headers ("hex": its bytes)
//   tick      one pass of the main loop: the time and the kernel's counters
//   changes   route, rule and address changes seen
//   existing  a flow found in the conntrack table at start
//   counted   answered flows the kernel counted per service and kept to itself (held flows)
//   answer    what the node answered the session (a route lookup, an interface name, service pairs...)
//   end       the last line: the duration and the config snapshot for the report
// Replaying feeds the same inputs in the same order and answers each question with the recorded
// answer, so nothing of the replaying machine is consulted.
#pragma once
#include <nlohmann/json.hpp>
#include <cstdio>
#include <deque>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "session/session.h"

namespace svctrace {

constexpr int kRecordVersion = 1;

// A recording that cannot be read; what() is one line naming the file and line.
struct RecordingError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes a recording to a temporary file beside `path`, renamed over `path` by finish(): a reader
// never sees half a capture, and a previous file at `path` survives a failed run.
class Recorder {
 public:
  Recorder(const std::string& path, const nlohmann::json& header);  // throws std::runtime_error
  ~Recorder();  // without finish(), removes the temporary file
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void event(const svc_event& ev);
  void packet(const svc_packet& p);
  void tick(uint64_t now_ns, const KernelCounters& kernel);
  void changes(const std::vector<RoutingChange>& changes);
  void existing(const ExistingFlow& e, uint64_t now_ns);
  void counted(const std::vector<ServiceCount>& counts, uint64_t now_ns);
  void answer(const std::string& question, const nlohmann::json& arg, const nlohmann::json& answer);
  void finish(double elapsed_s, const nlohmann::json& config);  // throws std::runtime_error

 private:
  void line(const nlohmann::json& j);
  std::string path_, tmp_;
  FILE* out_ = nullptr;
  bool failed_ = false;
};

// A Node that asks another and writes each answer to the recorder.
class RecordingNode : public Node {
 public:
  RecordingNode(Node& inner, Recorder& rec) : inner_(inner), rec_(rec) {}
  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override;
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override;
  std::vector<InterfaceAddress> addresses(int ifindex) override;
  std::string interface_name(int ifindex) override;
  std::vector<Route> routes(uint32_t table) override;
  std::vector<Rule> rules(uint8_t family) override;
  std::vector<ServicePair> service_pairs(const std::vector<Cidr>& cidrs) override;
  std::vector<Vrf> vrfs() override;
  NetworkManagement network_management(int ifindex, const std::string& dev) override;
  Container container_of(uint32_t pid, const std::string& comm) override;
  std::string pod_of_ip(const IpAddr& ip) override;

 private:
  Node& inner_;
  Recorder& rec_;
};

struct Recording {
  nlohmann::json header;
  std::vector<nlohmann::json> records;  // events, ticks, changes, existing flows; answers are apart
  std::vector<nlohmann::json> answers;
  nlohmann::json end;                   // null when the capture was cut short
  bool torn_last_line = false;          // its last line was cut mid-write, and is left out
};

// Parses and checks a recording; throws RecordingError.
Recording parse_recording(const std::string& text, const std::string& name);
Recording read_recording(const std::string& path);

// A Node that answers each question with the answer recorded for it, in order.
class ReplayNode : public Node {
 public:
  explicit ReplayNode(const std::vector<nlohmann::json>& answers);
  std::optional<Route> fib_match(const IpAddr& dst, int vrf) override;
  std::optional<Route> route_get(const IpAddr& dst, int vrf) override;
  std::vector<InterfaceAddress> addresses(int ifindex) override;
  std::string interface_name(int ifindex) override;
  std::vector<Route> routes(uint32_t table) override;
  std::vector<Rule> rules(uint8_t family) override;
  std::vector<ServicePair> service_pairs(const std::vector<Cidr>& cidrs) override;
  std::vector<Vrf> vrfs() override;
  NetworkManagement network_management(int ifindex, const std::string& dev) override;
  Container container_of(uint32_t pid, const std::string& comm) override;
  std::string pod_of_ip(const IpAddr& ip) override;
  // Questions the recording held no answer for (a different svctrace version asked differently).
  size_t unanswered() const { return unanswered_; }

 private:
  // `counted`: a question without an answer counts in unanswered().
  nlohmann::json next(const std::string& question, const nlohmann::json& arg, bool counted = true);
  std::map<std::string, std::deque<nlohmann::json>> answers_;  // question+arg -> answers in order
  std::map<std::string, nlohmann::json> last_;                 // re-used once a queue runs dry
  size_t unanswered_ = 0;
};

// The session's options as the header of `rec` states them.
SessionOptions session_options(const Recording& rec);
DropReasonNames drop_reason_names(const Recording& rec);
// Feeds the recorded inputs to `session` in order; returns the last tick's kernel counters.
KernelCounters replay(const Recording& rec, Session& session);

}  // namespace svctrace
