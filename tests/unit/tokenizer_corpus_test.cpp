// The peers' golden ids (../shared/fixtures/tokenizer/, see peers.md there), 100% of the corpora,
// for every way of loading each vocabulary; and llama.cpp's own 46+46 vectors.
#include <gtest/gtest.h>

#include <sstream>

#include "tokenizer_test_support.hpp"

namespace bitnet::test {
namespace {

using tokenizer::Tokenizer;

std::string describe(const std::vector<int32_t>& ids) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < ids.size(); ++i) s << (i ? "," : "") << ids[i];
  s << "]";
  return s.str();
}

// Every corpus string: ids with special tokens parsed, ids with them as text, and the round trip.
void check_corpus(const Tokenizer& tok, const std::string& corpus) {
  const auto cases = read_corpus(fixture("tokenizer/" + corpus));
  ASSERT_EQ(cases.size(), 417u);
  int failures = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c.text, false, true);
    const auto ids_nospecial = tok.encode(c.text, false, false);
    EXPECT_EQ(ids, c.ids) << c.id << " (" << c.category << ") parse_special: got " << describe(ids);
    EXPECT_EQ(ids_nospecial, c.ids_nospecial)
        << c.id << " (" << c.category << ") no special: got " << describe(ids_nospecial);
    if (c.roundtrip) {
      EXPECT_EQ(tok.decode(ids), c.text) << c.id << " round trip";
      EXPECT_EQ(tok.decode(ids_nospecial), c.text) << c.id << " round trip (no special)";
    }
    failures += (ids != c.ids) + (ids_nospecial != c.ids_nospecial);
  }
  EXPECT_EQ(failures, 0);
}

void check_vectors(const Tokenizer& tok, const std::string& stem) {
  const auto cases = read_llamacpp_vectors(fixture("tokenizer/llamacpp-tests/" + stem));
  ASSERT_EQ(cases.size(), 46u);
  for (const auto& c : cases) {
    EXPECT_EQ(tok.encode(c.text, false, false), c.ids) << "text: '" << c.text << "'";
  }
}

TEST(TokenizerCorpus, Llama3FromI2sGguf) {
  const auto tok = Tokenizer::from_gguf_path(fixture("tiny-b158-i2s.gguf"));
  check_corpus(tok, "llama3-corpus.jsonl");
}

TEST(TokenizerCorpus, Llama3FromHfJson) {
  const auto tok = Tokenizer::from_hf_json_path(llama3_json_path());
  check_corpus(tok, "llama3-corpus.jsonl");
  check_vectors(tok, "ggml-vocab-llama-bpe.gguf");
}

TEST(TokenizerCorpus, Llama3FromWrittenGguf) {
  const auto tok = Tokenizer::from_gguf_path(write_llama3_gguf());
  EXPECT_EQ(tok.n_vocab(), 128256);
  EXPECT_EQ(tok.merges().size(), 280147u);
  EXPECT_EQ(tok.pre(), "llama-bpe");
  check_corpus(tok, "llama3-corpus.jsonl");
}

TEST(TokenizerCorpus, Llama3LlamaCppVectors) {
  const auto tok = Tokenizer::from_gguf_path(fixture("tiny-b158-i2s.gguf"));
  check_vectors(tok, "ggml-vocab-llama-bpe.gguf");
}

TEST(TokenizerCorpus, Llama2FromSpmGguf) {
  const auto tok = Tokenizer::from_gguf_path(llama2_gguf_path());
  check_corpus(tok, "llama2-corpus.jsonl");
  check_vectors(tok, "ggml-vocab-llama-spm.gguf");
}

TEST(TokenizerCorpus, Llama2FromTinyTqModels) {
  for (const char* model : {"tiny-bitnet-tq2_0.gguf", "tiny-bitnet-tq1_0.gguf"}) {
    SCOPED_TRACE(model);
    const auto tok = Tokenizer::from_gguf_path(fixture(model));
    check_corpus(tok, "llama2-corpus.jsonl");
  }
}

}  // namespace
}  // namespace bitnet::test
