// Fuzz target: a recording given to `svctrace replay` (a file from someone else). It is parsed, and
// what parses is replayed through the session: the correlator and the diagnosis then run on events
// and node answers nobody checked, which must not crash them or trip the sanitizers. A refused file
// is refused with one line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "report/ndjson_output.h"
#include "session/recording.h"

using namespace svctrace;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!std::freopen("/dev/null", "w", stdout)) return 1;  // the replay's lines
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    Recording rec = parse_recording(text, "fuzz");
    ReplayNode node(rec.answers);
    SessionOptions opts = session_options(rec);
    opts.correlator.max_flows = std::min<size_t>(opts.correlator.max_flows, 1024);
    NdjsonOutput out;
    Session session(opts, node, drop_reason_names(rec), out);
    KernelCounters kernel = replay(rec, session);
    session.finish(0, kernel);
  } catch (const RecordingError& e) {
    if (std::string_view(e.what()).find('\n') != std::string_view::npos) __builtin_trap();
  }
  return 0;
}
