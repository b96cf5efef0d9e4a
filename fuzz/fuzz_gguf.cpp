// libFuzzer entry: any byte string must parse or raise bitnet::Error, never crash or hang.
#include <cstddef>
#include <cstdint>
#include <span>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = bitnet::gguf::GgufFile::parse(std::span(reinterpret_cast<const std::byte*>(data), size));
    for (const auto& [key, value] : file.metadata()) {
      if (value.type() == bitnet::gguf::ValueType::ARRAY) (void)value.as_array().size;
    }
  } catch (const bitnet::Error&) {
  }
  return 0;
}
