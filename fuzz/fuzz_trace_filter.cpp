// libFuzzer: BITNET_TRACE_FILTER specs. parse() either accepts (and matching never fails) or
// throws bitnet::Error; nothing else may escape, and nothing may crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bitnet/error.hpp"
#include "trace/trace_filter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view spec(reinterpret_cast<const char*>(data), size);
  try {
    const auto filter = bitnet::TraceFilter::parse(spec);
    for (int layer = -1; layer < 40; layer += 7) {
      for (int s = 0; s <= static_cast<int>(bitnet::Stage::logits); ++s)
        (void)filter.matches(layer, static_cast<bitnet::Stage>(s));
    }
  } catch (const bitnet::Error&) {
  }
  return 0;
}
