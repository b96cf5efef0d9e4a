// libFuzzer entry: any bytes through encode / decode / the stream decoder of the LLaMA-3 and
// LLaMA-2 vocabularies (from ../shared/fixtures, or BITNET_FIXTURES). Never a crash; the stream
// decoder's output is always valid UTF-8; LLaMA-3 decodes back to the (repaired) input.
// Run: build-fuzz/bin/fuzz_tokenizer -max_total_time=60 -max_len=4096
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace {
using bitnet::tokenizer::Tokenizer;

std::string fixture(const char* relative) {
  const char* dir = std::getenv("BITNET_FIXTURES");
  return std::string(dir ? dir : BITNET_FIXTURES_DIR) + "/" + relative;
}

const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_gguf_path(fixture("tiny-b158-i2s.gguf"));
  return tok;
}
const Tokenizer& llama2() {
  static const Tokenizer tok =
      Tokenizer::from_gguf_path(fixture("tokenizer/llamacpp-tests/ggml-vocab-llama-spm.gguf"));
  return tok;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const Tokenizer& tok = (flags & 1) ? llama2() : llama3();
  const bool parse_special = flags & 2;
  const auto ids = tok.encode(text, flags & 4, parse_special);
  const std::string decoded = tok.decode(ids, flags & 8);
  if (!(flags & 1) && !(flags & 4) && !(flags & 8) &&
      decoded != bitnet::tokenizer::repair_utf8(text)) {
    std::abort();  // byte-level BPE is lossless on (repaired) text
  }
  bitnet::tokenizer::StreamDecoder stream(tok, flags & 8);
  for (const auto id : ids) {
    if (!bitnet::tokenizer::is_valid_utf8(stream.push(id))) std::abort();
  }
  if (!bitnet::tokenizer::is_valid_utf8(stream.flush())) std::abort();
  return 0;
}
