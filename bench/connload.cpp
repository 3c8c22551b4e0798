// connload: the connection-rate load of svctrace's benchmarks (scripts/bench.sh). Bounded by count and
// by time, always.
//
//   connload server --listen IP:PORT --seconds N          accept and close, until N seconds passed
//   connload client --connect IP:PORT --seconds N [--max COUNT] [--threads T] [--rate PER_S]
//
// The client connects, and closes at once with a reset (SO_LINGER 0): a full handshake per connection,
// and no TIME_WAIT to run the port range dry over a long run. It prints one JSON line:
// {"connections":N,"errors":E,"seconds":S,"per_second":R,"first_error":"..."}.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: connload server --listen IP:PORT --seconds N\n"
               "       connload client --connect IP:PORT --seconds N [--max COUNT] [--threads T] [--rate PER_S]\n");
  std::exit(2);
}

sockaddr_in parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (colon == std::string::npos || inet_pton(AF_INET, s.substr(0, colon).c_str(), &a.sin_addr) != 1) usage();
  long port = std::strtol(s.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) usage();
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

struct Args {
  std::string mode, endpoint;
  double seconds = 0;
  long max = 0;  // 0: no limit but time
  int threads = 1;
  double rate = 0;  // 0: as fast as it goes; else paced to PER_S connections a second in all
};

Args parse(int argc, char** argv) {
  if (argc < 2) usage();
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; i++) {
    std::string_view k = argv[i];
    if (i + 1 >= argc) usage();
    const char* v = argv[++i];
    if (k == "--listen" || k == "--connect") a.endpoint = v;
    else if (k == "--seconds") a.seconds = std::strtod(v, nullptr);
    else if (k == "--max") a.max = std::strtol(v, nullptr, 10);
    else if (k == "--threads") a.threads = static_cast<int>(std::strtol(v, nullptr, 10));
    else if (k == "--rate") a.rate = std::strtod(v, nullptr);
    else usage();
  }
  if ((a.mode != "server" && a.mode != "client") || a.endpoint.empty() || a.seconds <= 0 || a.seconds > 3600 ||
      a.max < 0 || a.threads < 1 || a.threads > 64 || a.rate < 0)
    usage();
  return a;
}

int server(const Args& a) {
  sockaddr_in addr = parse_endpoint(a.endpoint);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // accept() wakes up at least every 200 ms, so the deadline holds with no client.
  timeval tv{0, 200000};
  setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(ls, 4096) != 0) {
    std::fprintf(stderr, "connload: listen %s: %s\n", a.endpoint.c_str(), std::strerror(errno));
    return 1;
  }
  std::printf("listening\n");
  std::fflush(stdout);
  const auto deadline = Clock::now() + std::chrono::duration<double>(a.seconds);
  long accepted = 0;
  while (Clock::now() < deadline) {
    int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;  // timeout, or a connection reset before it was accepted
    close(c);
    accepted++;
  }
  close(ls);
  std::printf("{\"accepted\":%ld}\n", accepted);
  return 0;
}

int client(const Args& a) {
  const sockaddr_in addr = parse_endpoint(a.endpoint);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(a.seconds);
  std::atomic<long> done{0}, errors{0};
  std::mutex mu;
  std::string first_error;
  auto worker = [&] {
    const linger rst{1, 0};
    const timeval connect_timeout{1, 0};  // connect() honours SO_SNDTIMEO: no wait past the deadline
    while (Clock::now() < deadline && (a.max == 0 || done.load(std::memory_order_relaxed) < a.max)) {
      if (a.rate > 0) {  // paced: the next connection is due once done / rate seconds have passed
        auto due = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(static_cast<double>(done.load()) / a.rate));
        if (due >= deadline) break;
        if (due > Clock::now()) std::this_thread::sleep_until(due);
      }
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s >= 0) setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &connect_timeout, sizeof connect_timeout);
      if (s < 0 || connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        if (errors.fetch_add(1) == 0) {
          std::lock_guard lock(mu);
          first_error = std::strerror(err);
        }
        if (s >= 0) close(s);
        continue;
      }
      setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
      close(s);
      done.fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < a.threads; i++) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"connections\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"per_second\":%.1f,\"first_error\":\"%s\"}\n",
              done.load(), errors.load(), secs, static_cast<double>(done.load()) / secs, first_error.c_str());
  return errors.load() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  return a.mode == "server" ? server(a) : client(a);
}
