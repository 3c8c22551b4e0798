// Fuzz target: a --cidr argument (Cidr::parse), the user's text. Beyond not crashing or tripping the
// sanitizers: what parses is IPv4 text, prints back to itself and contains its own address; what is
// refused is refused with one line (the CLI prints it as its one line on stderr).
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "correlate/address.h"

using svctrace::Cidr;
using svctrace::CidrError;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    Cidr c = Cidr::parse(text);
    if (text.find_first_not_of("0123456789./") != std::string_view::npos) __builtin_trap();
    if (c.addr.family != AF_INET || c.prefix_len > 32) __builtin_trap();
    if (!(Cidr::parse(c.str()) == c) || !c.contains(c.addr)) __builtin_trap();
  } catch (const CidrError& e) {
    if (std::string_view(e.what()).find_first_of("\r\n") != std::string_view::npos) __builtin_trap();
  }
  return 0;
}
