// libFuzzer entry: any byte string must parse or raise bitnet::Error, never crash, hang or
// over-allocate. Beyond the header it walks every metadata value (nested arrays included), reads
// the model config, and dequantizes small tensors, so the pointers the reader hands out are
// exercised too.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"
#include "model/config.hpp"
#include "quant/dequantize.hpp"

namespace {

void walk(const bitnet::gguf::Value& value) {
  using bitnet::gguf::ValueType;
  if (value.type() != ValueType::ARRAY) return;
  const auto& array = value.as_array();
  for (uint64_t i = 0; i < array.size && i < 64; ++i) walk(array.at(i));
  if (array.size > 0) walk(array.at(array.size - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file =
        bitnet::gguf::GgufFile::parse(std::span(reinterpret_cast<const std::byte*>(data), size));
    for (const auto& [key, value] : file.metadata()) walk(value);
    std::vector<float> values;
    for (const auto& t : file.tensors()) {
      if (t.n_elements > (int64_t{1} << 16) || !bitnet::can_dequantize(t.type)) continue;
      values.resize(static_cast<size_t>(t.n_elements));
      bitnet::dequantize_tensor(t.type, t.data, values.data(), t.n_elements, t.ne[0]);
    }
    try {
      (void)bitnet::read_model_config(file);
    } catch (const bitnet::Error&) {
    }
  } catch (const bitnet::Error&) {
  }
  return 0;
}
