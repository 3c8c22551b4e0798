// Fuzz target: iptables-save output, as `svctrace check` reads it from the namespace or from
// --iptables-save FILE (which must first pass validate_iptables_save). See fuzz_rules.h for what is
// checked of the pairs.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "fuzz_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  svctrace::RulesRead read = svctrace::read_iptables_save(text, fuzz::cidrs());
  fuzz::check_pairs(read.pairs, "iptables-save");
  fuzz::check_source_nat(std::move(read));
  try {
    svctrace::validate_iptables_save(text);
  } catch (const svctrace::RulesError& e) {
    fuzz::check_refusal(e);
  }
  return 0;
}
