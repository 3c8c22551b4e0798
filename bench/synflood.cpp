// synflood: the flood of scripts/bench.sh's scale and soak runs. Sends TCP SYNs through a raw socket,
// each from a source port and to a destination address of its own, so that every packet is a new
// flow for conntrack and for svctrace; nothing answers them in the bench's lab (the backend drops
// them), so each becomes an unanswered flow. Bounded by count and by time, always; paced to a rate.
//
//   synflood --src IP --dst IP [--dst-count N] --dport PORT [--dport-count N] --count N --seconds S
//            [--rate PER_S] [--first-sport P] [--threads N]
//
// Flow i goes from src:(first_sport + i % ports) to dst + k / dport_count % dst_count, port
// dport + k % dport_count, where k = i / ports and ports = 65536 - first_sport: --count flows are all
// distinct as long as count <= ports * dport_count * dst_count. (Vary the port rather than the address
// when DNAT keeps the port: conntrack needs a distinct reply tuple per flow, and all of them come from
// one backend address.)
//
// One thread tops out at ~150 k SYNs/s here, and below 100 k/s while svctrace traces them: each SYN's
// conntrack entry, DNAT, the veth hop into the receiving namespace and the tracer's BPF programs run in
// the sender's own syscall, so the kernel, not the syscalls (already batched with sendmmsg), is the
// limit. --threads N splits the work: thread t sends the flows
// [count * t / N, count * (t + 1) / N) from a raw socket of its own, at rate / N, under the same
// deadline; the slices are disjoint, so every flow stays distinct. Prints one JSON line for all of them:
// {"sent":N,"errors":E,"seconds":S,"per_second":R,"first_error":"..."}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: synflood --src IP --dst IP [--dst-count N] --dport PORT [--dport-count N] --count N\n"
               "                --seconds S [--rate PER_S] [--first-sport P] [--threads N]\n");
  std::exit(2);
}

struct Args {
  in_addr src{}, dst{};
  uint32_t dst_count = 1;
  uint16_t dport = 0;
  uint32_t dport_count = 1;
  long count = 0;
  double seconds = 0;
  double rate = 0;  // 0: as fast as it goes
  uint16_t first_sport = 1024;
  unsigned threads = 1;
};

long number(const char* v, long lo, long hi) {
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (!*v || *end || n < lo || n > hi) usage();
  return n;
}

Args parse(int argc, char** argv) {
  Args a;
  bool have_src = false, have_dst = false;
  for (int i = 1; i < argc; i++) {
    std::string_view k = argv[i];
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (k == "--src") have_src = inet_pton(AF_INET, v, &a.src) == 1;
    else if (k == "--dst") have_dst = inet_pton(AF_INET, v, &a.dst) == 1;
    else if (k == "--dst-count") a.dst_count = static_cast<uint32_t>(number(v, 1, 65536));
    else if (k == "--dport") a.dport = static_cast<uint16_t>(number(v, 1, 65535));
    else if (k == "--dport-count") a.dport_count = static_cast<uint32_t>(number(v, 1, 65535));
    else if (k == "--count") a.count = number(v, 1, 100'000'000);
    else if (k == "--seconds") a.seconds = std::strtod(v, nullptr);
    else if (k == "--rate") a.rate = std::strtod(v, nullptr);
    else if (k == "--first-sport") a.first_sport = static_cast<uint16_t>(number(v, 1, 65535));
    else if (k == "--threads") a.threads = static_cast<unsigned>(number(v, 1, 64));
    else usage();
  }
  if (!have_src || !have_dst || !a.dport || !a.count || a.seconds <= 0 || a.seconds > 3600 || a.rate < 0 ||
      a.dport + a.dport_count - 1 > 65535 || a.count < a.threads)
    usage();
  return a;
}

uint16_t checksum(const void* data, size_t len, uint32_t sum) {
  auto p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// A SYN from src:sport to dst:dport, its checksum over the pseudo-header.
void make_syn(tcphdr& t, in_addr src, in_addr dst, uint16_t sport, uint16_t dport, uint32_t seq) {
  std::memset(&t, 0, sizeof t);
  t.source = htons(sport);
  t.dest = htons(dport);
  t.seq = htonl(seq);
  t.doff = sizeof t / 4;
  t.syn = 1;
  t.window = htons(64240);
  uint32_t sum = 0;
  for (in_addr a : {src, dst}) {
    uint32_t h = ntohl(a.s_addr);
    sum += (h >> 16) + (h & 0xffff);
  }
  sum += IPPROTO_TCP + sizeof t;
  t.check = checksum(&t, sizeof t, sum);
}

// A raw socket bound to src, for one sender thread; -1 (and a line on stderr) if it cannot be had.
int open_socket(in_addr src) {
  int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
  if (s < 0) {
    std::fprintf(stderr, "synflood: raw socket: %s\n", std::strerror(errno));
    return -1;
  }
  // It would also be handed a copy of every TCP packet the namespace receives: read none of them.
  int small = 1;
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  shutdown(s, SHUT_RD);
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr = src;
  if (bind(s, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0) {
    std::fprintf(stderr, "synflood: bind %s: %s\n", inet_ntoa(src), std::strerror(errno));
    close(s);
    return -1;
  }
  return s;
}

// What one thread sent: flows [first, first + count) of the index space, from socket s.
struct Slice {
  int s = -1;
  long first = 0, count = 0;
  long sent = 0, errors = 0;
  std::string first_error;
};

void send_slice(const Args& a, Slice& sl, Clock::time_point start, Clock::time_point deadline) {
  constexpr size_t kBatch = 64;
  const uint32_t ports = 65536u - a.first_sport;
  const double rate = a.rate / a.threads;  // each thread its share: together, a.rate
  std::vector<tcphdr> syns(kBatch);
  std::vector<sockaddr_in> dsts(kBatch);
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  long done_here = 0;  // flows attempted, sent or not
  while (done_here < sl.count && Clock::now() < deadline) {
    // Paced: no more than rate * elapsed sent so far.
    size_t n = static_cast<size_t>(std::min<long>(kBatch, sl.count - done_here));
    if (rate > 0) {
      double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      long allowed = static_cast<long>(rate * elapsed) + 1 - done_here;
      if (allowed <= 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      n = std::min<size_t>(n, static_cast<size_t>(allowed));
    }
    for (size_t j = 0; j < n; j++) {
      long i = sl.first + done_here + static_cast<long>(j);
      long k = i / ports;
      in_addr dst{htonl(ntohl(a.dst.s_addr) + static_cast<uint32_t>(k / a.dport_count % a.dst_count))};
      uint16_t dport = static_cast<uint16_t>(a.dport + k % a.dport_count);
      uint16_t sport = static_cast<uint16_t>(a.first_sport + i % ports);
      make_syn(syns[j], a.src, dst, sport, dport, static_cast<uint32_t>(i) * 2654435761u);
      dsts[j] = {};
      dsts[j].sin_family = AF_INET;
      dsts[j].sin_addr = dst;
      iov[j] = {&syns[j], sizeof(tcphdr)};
      msgs[j] = {};
      msgs[j].msg_hdr.msg_name = &dsts[j];
      msgs[j].msg_hdr.msg_namelen = sizeof dsts[j];
      msgs[j].msg_hdr.msg_iov = &iov[j];
      msgs[j].msg_hdr.msg_iovlen = 1;
    }
    int done = sendmmsg(sl.s, msgs.data(), static_cast<unsigned>(n), 0);
    if (done <= 0) {
      // ENOBUFS and the like: counted, and that flow skipped.
      if (sl.errors++ == 0) sl.first_error = std::strerror(errno);
      done = 1;
    }
    done_here += done;
  }
  sl.sent = done_here - sl.errors;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  // Every socket before any thread starts: a failure leaves nothing half-sent.
  std::vector<Slice> slices(a.threads);
  for (unsigned t = 0; t < a.threads; t++) {
    slices[t].s = open_socket(a.src);
    if (slices[t].s < 0) return 1;
    slices[t].first = a.count * t / a.threads;
    slices[t].count = a.count * (t + 1) / a.threads - slices[t].first;
  }

  const auto start = Clock::now();
  const Clock::time_point deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.seconds));
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < a.threads; t++)
    threads.emplace_back(send_slice, std::cref(a), std::ref(slices[t]), start, deadline);
  send_slice(a, slices[0], start, deadline);
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();

  long sent = 0, errors = 0;
  std::string first_error;
  for (const Slice& sl : slices) {
    sent += sl.sent;
    errors += sl.errors;
    if (first_error.empty()) first_error = sl.first_error;
    close(sl.s);
  }
  std::printf("{\"sent\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"per_second\":%.1f,\"first_error\":\"%s\"}\n", sent,
              errors, secs, static_cast<double>(sent) / secs, first_error.c_str());
  return 0;
}
