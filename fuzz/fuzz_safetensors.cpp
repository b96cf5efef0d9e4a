// libFuzzer entry for the safetensors reader (src/convert/safetensors.cpp): any byte string must
// parse or raise bitnet::Error, never crash, hang or over-allocate. A parsed file's tensors are
// read (first and last values, every dtype), so the ranges the reader validated are exercised.
// Inputs whose first byte is 0xA5 go to the SentencePiece protobuf reader instead.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "bitnet/error.hpp"
#include "convert/convert.hpp"
#include "convert/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    if (size > 0 && data[0] == 0xA5) {
      (void)bitnet::convert::parse_sentencepiece_model(
          std::string(reinterpret_cast<const char*>(data) + 1, size - 1), "fuzz.model");
      return 0;
    }
    const auto file = bitnet::convert::SafetensorsFile::parse(
        std::span(reinterpret_cast<const std::byte*>(data), size), "fuzz.safetensors");
    volatile float sink = 0;
    for (const auto& t : file.tensors()) {
      if (t.n_elements == 0) continue;
      sink = sink + t.value_f32(0) + t.value_f32(t.n_elements - 1);
      (void)t.shape_string();
    }
    (void)file.find("model.embed_tokens.weight");
  } catch (const bitnet::Error&) {
  }
  return 0;
}
