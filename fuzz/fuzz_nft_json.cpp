// Fuzz target: `nft -j list ruleset` output, as `svctrace check` reads it from the namespace or from
// --nft-json FILE. See fuzz_rules.h for what is checked of the pairs and of a refusal.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "fuzz_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    svctrace::RulesRead read = svctrace::read_nft_json(text, fuzz::cidrs());
    fuzz::check_pairs(read.pairs, "nft");
    fuzz::check_source_nat(std::move(read));
  } catch (const svctrace::RulesError& e) {
    fuzz::check_refusal(e);
  }
  return 0;
}
