// Helpers shared by the tokenizer tests: corpus readers and the tokenizers under test.
#pragma once

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_writer.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::test {

struct CorpusCase {
  std::string id;
  std::string category;
  std::string text;
  std::vector<int32_t> ids;
  std::vector<int32_t> ids_nospecial;
  bool roundtrip = false;
};

inline std::vector<CorpusCase> read_corpus(const std::string& path) {
  std::ifstream in(path);
  std::vector<CorpusCase> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    cases.push_back({j.at("id").get<std::string>(), j.at("cat").get<std::string>(),
                     j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>(),
                     j.at("ids_nospecial").get<std::vector<int32_t>>(),
                     j.value("roundtrip", false)});
  }
  return cases;
}

// llama.cpp's test vectors: .inp split on "\n__ggml_vocab_test__\n", .out one line of ids each.
struct VectorCase {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::vector<VectorCase> read_llamacpp_vectors(const std::string& stem) {
  std::ifstream inp(stem + ".inp", std::ios::binary), out(stem + ".out");
  const std::string all((std::istreambuf_iterator<char>(inp)), std::istreambuf_iterator<char>());
  const std::string separator = "\n__ggml_vocab_test__\n";
  std::vector<VectorCase> cases;
  size_t pos = 0;
  while (true) {
    const size_t next = all.find(separator, pos);
    if (next == std::string::npos) break;
    cases.push_back({all.substr(pos, next - pos), {}});
    pos = next + separator.size();
  }
  std::string line;
  for (auto& c : cases) {
    if (!std::getline(out, line)) break;
    std::istringstream ids(line);
    int32_t id = 0;
    while (ids >> id) c.ids.push_back(id);
  }
  return cases;
}

inline std::string llama3_json_path() {
  return fixture("tokenizer/llama3-tokenizer.json");
}
inline std::string llama2_gguf_path() {
  return fixture("tokenizer/llamacpp-tests/ggml-vocab-llama-spm.gguf");
}

// A tokenizer-only GGUF written from llama3-tokenizer.json by write_tokenizer_metadata (what
// `bitnet synth --tokenizer` puts in a model).
inline std::string write_llama3_gguf() {
  const auto path = (scratch_dir() / "llama3-tokenizer-only.gguf").string();
  const auto source = tokenizer::Tokenizer::from_hf_json_path(llama3_json_path());
  gguf::GgufWriter writer;
  writer.add_string("general.architecture", "bitnet-b1.58");
  tokenizer::write_tokenizer_metadata(writer, source);
  writer.write(path);
  return path;
}

}  // namespace bitnet::test
