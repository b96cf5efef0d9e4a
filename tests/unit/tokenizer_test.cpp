// Tokenizer behaviour beyond the corpora: goldens' prompts, BOS/EOS/EOT, bad input, decoding,
// streaming, chat templates, metadata export, and loader errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bitnet/error.hpp"
#include "gguf/gguf.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/utf8.hpp"
#include "tokenizer_test_support.hpp"

namespace bitnet::test {
namespace {

using tokenizer::ChatMessage;
using tokenizer::ChatTemplate;
using tokenizer::StreamDecoder;
using tokenizer::TokenId;
using tokenizer::Tokenizer;
using tokenizer::TokenType;

const Tokenizer& llama3() {
  static const Tokenizer tok = Tokenizer::from_gguf_path(fixture("tiny-b158-i2s.gguf"));
  return tok;
}
const Tokenizer& llama2() {
  static const Tokenizer tok = Tokenizer::from_gguf_path(llama2_gguf_path());
  return tok;
}

// The golden logits were computed for the prompt's tokens, BOS added and special tokens parsed.
void check_golden_dir(const std::string& dir) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(fixture(dir))) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path());
    const auto golden = nlohmann::json::parse(in);
    const auto model = golden.at("model").get<std::string>();
    const auto& tok = model == "tiny-b158-i2s.gguf" ? llama3() : llama2();
    const auto ids = tok.encode(golden.at("prompt").get<std::string>(),
                                golden.value("add_bos", true), golden.value("parse_special", true));
    EXPECT_EQ(ids, golden.at("tokens").get<std::vector<TokenId>>()) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

TEST(Tokenizer, GoldenPromptsBitnetCpp) {
  check_golden_dir("golden");
}
TEST(Tokenizer, GoldenPromptsUpstreamLlamaCpp) {
  check_golden_dir("golden-upstream");
}

TEST(Tokenizer, Llama3SpecialIds) {
  const auto& tok = llama3();
  EXPECT_EQ(tok.kind(), tokenizer::VocabKind::byte_bpe);
  EXPECT_EQ(tok.n_vocab(), 128256);
  EXPECT_EQ(tok.special_ids().bos, 128000);
  EXPECT_EQ(tok.special_ids().eos, 128001);
  EXPECT_EQ(tok.special_ids().eot, 128009);  // no eot key in the file: found by name
  EXPECT_TRUE(tok.add_bos_default());
  EXPECT_TRUE(tok.is_eog(128001));
  EXPECT_TRUE(tok.is_eog(128009));
  EXPECT_FALSE(tok.is_eog(128000));
  EXPECT_FALSE(tok.is_eog(9906));
  EXPECT_EQ(tok.token_type(128000), TokenType::control);
  EXPECT_EQ(tok.token_type(9906), TokenType::normal);
  EXPECT_EQ(tok.find_token("<|eot_id|>"), 128009);
  EXPECT_EQ(tok.find_token("no such token"), tokenizer::kNoToken);
}

TEST(Tokenizer, Llama2SpecialIds) {
  const auto& tok = llama2();
  EXPECT_EQ(tok.kind(), tokenizer::VocabKind::spm);
  EXPECT_EQ(tok.special_ids().bos, 1);
  EXPECT_EQ(tok.special_ids().eos, 2);
  EXPECT_EQ(tok.special_ids().unk, 0);
  EXPECT_TRUE(tok.is_eog(2));
  EXPECT_FALSE(tok.is_eog(1));
  EXPECT_EQ(tok.token_type(0), TokenType::unknown);
  EXPECT_EQ(tok.token_type(3), TokenType::byte);
  EXPECT_EQ(tok.token_to_piece(3), std::string(1, '\0'));
  EXPECT_EQ(tok.token_to_piece(15043), " Hello");
}

TEST(Tokenizer, EmptyTextGivesNothingOrBos) {
  EXPECT_TRUE(llama3().encode("", false, true).empty());
  EXPECT_EQ(llama3().encode("", true, true), std::vector<TokenId>{128000});
  EXPECT_TRUE(llama2().encode("", false, false).empty());
  EXPECT_EQ(llama2().encode("", true, false), std::vector<TokenId>{1});
}

TEST(Tokenizer, SpecialTokensParsedOnlyWhenAsked) {
  const auto& tok = llama3();
  EXPECT_EQ(tok.encode("Hi<|eot_id|>", false, true), (std::vector<TokenId>{13347, 128009}));
  const auto plain = tok.encode("Hi<|eot_id|>", false, false);
  EXPECT_GT(plain.size(), 2u);
  for (auto id : plain) EXPECT_LT(id, 128000);
  EXPECT_EQ(tok.decode(plain), "Hi<|eot_id|>");
  // LLaMA-2: a space prefix after a special token, as llama.cpp and HF do.
  EXPECT_EQ(llama2().encode("a<s>b", false, true), (std::vector<TokenId>{263, 1, 289}));
}

TEST(Tokenizer, InvalidUtf8IsRepairedNeverCrashes) {
  for (const auto* tok : {&llama3(), &llama2()}) {
    EXPECT_EQ(tok->encode("ab\xff"
                          "c",
                          false, false),
              tok->encode("ab\xEF\xBF\xBD"
                          "c",
                          false, false));
    // A truncated 4-byte sequence is one maximal subpart: one U+FFFD.
    EXPECT_EQ(tok->encode("x\xF0\x9F\x98", false, false),
              tok->encode("x\xEF\xBF\xBD", false, false));
    // Surrogates encoded in UTF-8 are ill-formed: three U+FFFD.
    EXPECT_EQ(tok->encode("\xED\xA0\x80", false, false),
              tok->encode("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", false, false));
    for (int b = 0; b < 256; ++b) {
      const std::string s = "a" + std::string(1, static_cast<char>(b)) + "\x80<|eot_id|>\xC3";
      EXPECT_NO_THROW(tok->encode(s, true, true));
    }
  }
}

TEST(Tokenizer, RepairUtf8MatchesMaximalSubparts) {
  using tokenizer::repair_utf8;
  EXPECT_EQ(repair_utf8("plain"), "plain");
  EXPECT_EQ(repair_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(repair_utf8("\xE2\x82"), "\xEF\xBF\xBD");
  EXPECT_EQ(
      repair_utf8("\xF4\x90\x80\x80"),
      std::string(4 * 3, ' ').replace(0, 12, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(repair_utf8("\xE2\x82\xAC"), "\xE2\x82\xAC");
  EXPECT_TRUE(tokenizer::is_valid_utf8("\xF0\x9F\xA6\x99"));
  EXPECT_FALSE(tokenizer::is_valid_utf8("\xF0\x9F\xA6"));
}

TEST(Tokenizer, DecodeSkipsSpecialWhenAsked) {
  const auto& tok = llama3();
  const auto ids = tok.encode("Hello<|eot_id|>", true, true);
  EXPECT_EQ(tok.decode(ids), "<|begin_of_text|>Hello<|eot_id|>");
  EXPECT_EQ(tok.decode(ids, true), "Hello");
  // LLaMA-2 drops the one space that encoding added at the start.
  const auto& spm = llama2();
  EXPECT_EQ(spm.decode(spm.encode(" Hello world", true, false), true), " Hello world");
  EXPECT_EQ(spm.decode(spm.encode("Hello", true, false)), "<s> Hello");
  EXPECT_THROW(tok.decode(std::vector<TokenId>{-1}), Error);
  EXPECT_THROW(tok.token_to_piece(128256), Error);
}

// The stream never emits a partial character and adds up to decode() on valid text.
void check_stream(const Tokenizer& tok, const std::string& text) {
  const auto ids = tok.encode(text, false, true);
  StreamDecoder stream(tok);
  std::string joined;
  for (auto id : ids) {
    const auto part = stream.push(id);
    EXPECT_TRUE(tokenizer::is_valid_utf8(part)) << text;
    joined += part;
  }
  joined += stream.flush();
  std::string expected;  // decode() without SentencePiece's leading-space strip
  for (auto id : ids) expected += tok.token_to_piece(id);
  EXPECT_EQ(joined, expected);
}

TEST(Tokenizer, StreamDecoderHoldsSplitCharacters) {
  for (const auto& c : read_corpus(fixture("tokenizer/llama3-corpus.jsonl")))
    check_stream(llama3(), c.text);
  for (const auto& c : read_corpus(fixture("tokenizer/llama2-corpus.jsonl"))) {
    if (c.roundtrip) check_stream(llama2(), c.text);
  }
  // 🦙 in LLaMA-2 is four byte-fallback tokens: nothing until the last one.
  const auto& tok = llama2();
  StreamDecoder stream(tok);
  EXPECT_EQ(stream.push(243), "");
  EXPECT_EQ(stream.push(162), "");
  EXPECT_EQ(stream.push(169), "");
  EXPECT_EQ(stream.push(156), "\xF0\x9F\xA6\x99");
  // A character that can never complete becomes U+FFFD, and so does a dangling one at flush.
  EXPECT_EQ(stream.push(243), "");
  EXPECT_EQ(stream.push(263), "\xEF\xBF\xBD a");
  EXPECT_EQ(stream.push(243), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
  StreamDecoder skipping(llama3(), true);
  EXPECT_EQ(skipping.push(128000), "");
  EXPECT_EQ(skipping.push(9906), "Hello");
}

TEST(ChatTemplate, DetectsTheI2sFixtureTemplateAsLlama3) {
  ASSERT_TRUE(llama3().chat_template().has_value());
  EXPECT_EQ(tokenizer::detect_chat_template(*llama3().chat_template()), ChatTemplate::llama3);
  EXPECT_FALSE(llama2().chat_template().has_value());
}

TEST(ChatTemplate, Llama3ReproducesTheGoldenChatPrompt) {
  const std::vector<ChatMessage> chat = {{"user", "Hi there!"}};
  const auto prompt = tokenizer::apply_chat_template(llama3(), "auto", chat, true);
  EXPECT_EQ(prompt,
            "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  std::ifstream in(fixture("golden/tiny-b158-i2s.p6_chat.json"));
  const auto golden = nlohmann::json::parse(in);
  EXPECT_EQ(llama3().encode(prompt, true, true), golden.at("tokens").get<std::vector<TokenId>>());
}

TEST(ChatTemplate, BitnetAndLlama2AndRaw) {
  const std::vector<ChatMessage> chat = {
      {"system", "Be brief."}, {"user", " Hi "}, {"assistant", "Hello."}, {"user", "Bye"}};
  EXPECT_EQ(tokenizer::apply_chat_template(ChatTemplate::bitnet, chat, true),
            "System: Be brief.<|eot_id|>User: Hi<|eot_id|>Assistant: Hello.<|eot_id|>User: "
            "Bye<|eot_id|>Assistant: ");
  EXPECT_EQ(tokenizer::apply_chat_template(ChatTemplate::llama2, chat, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
  EXPECT_EQ(tokenizer::apply_chat_template(ChatTemplate::raw, chat, true),
            "Be brief. Hi Hello.Bye");
  EXPECT_EQ(tokenizer::apply_chat_template(llama3(), "bitnet",
                                           std::vector<ChatMessage>{{"user", "Hey"}}, true),
            "User: Hey<|eot_id|>Assistant: ");
}

TEST(ChatTemplate, DetectionAndNames) {
  const std::string bitnet_jinja =
      "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + "
      "message['content'] | trim + '<|eot_id|>' }}{% endif %}{% endfor %}{{ 'Assistant: ' }}";
  EXPECT_EQ(tokenizer::detect_chat_template(bitnet_jinja), ChatTemplate::bitnet);
  EXPECT_EQ(tokenizer::detect_chat_template("{{ '[INST] ' + content + ' [/INST]' }}"),
            ChatTemplate::llama2);
  EXPECT_EQ(tokenizer::detect_chat_template("{{ '<|im_start|>' }}"), std::nullopt);
  EXPECT_EQ(tokenizer::chat_template_from_name("llama3"), ChatTemplate::llama3);
  EXPECT_EQ(tokenizer::chat_template_from_name("raw"), ChatTemplate::raw);
  EXPECT_THROW(tokenizer::chat_template_from_name("chatml"), Error);
  EXPECT_THROW(tokenizer::apply_chat_template(llama2(), "auto", std::vector<ChatMessage>{}, true),
               Error);
}

TEST(TokenizerExport, WrittenMetadataMatchesTheConverter) {
  const auto file = gguf::GgufFile::open(write_llama3_gguf());
  EXPECT_EQ(file.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.get_string("tokenizer.ggml.pre"), "llama-bpe");
  EXPECT_EQ(file.get_u64("tokenizer.ggml.bos_token_id"), 128000u);
  EXPECT_EQ(file.get_u64("tokenizer.ggml.eos_token_id"), 128001u);
  EXPECT_EQ(file.get("tokenizer.ggml.tokens").as_array().size, 128256u);
  EXPECT_EQ(file.get("tokenizer.ggml.merges").as_array().size, 280147u);
  // Same tokens, types and merges as the I2_S fixture, which llama.cpp's converter produced.
  const auto reference = gguf::GgufFile::open(fixture("tiny-b158-i2s.gguf"));
  for (const char* key : {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}) {
    EXPECT_EQ(file.get(key).as_array().strings, reference.get(key).as_array().strings) << key;
  }
  const auto& types = file.get("tokenizer.ggml.token_type").as_array();
  const auto& ref_types = reference.get("tokenizer.ggml.token_type").as_array();
  ASSERT_EQ(types.size, ref_types.size);
  for (uint64_t i = 0; i < types.size; ++i) {
    ASSERT_EQ(types.numeric_at<int32_t>(i), ref_types.numeric_at<int32_t>(i)) << i;
  }
}

// Tokenizer-only GGUFs with one thing wrong each.
struct BadVocab {
  const char* name;
  std::function<void(gguf::GgufWriter&)> fill;
};

TEST(TokenizerLoad, BadGgufMetadataIsATokenizerError) {
  const std::vector<std::string> tokens = {"a", "b", "ab"};
  const std::vector<BadVocab> cases = {
      {"no model",
       [&](gguf::GgufWriter& w) { w.add_string_array("tokenizer.ggml.tokens", tokens); }},
      {"unknown model",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "bert");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
       }},
      {"tokens not strings",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "llama");
         w.add_i32_array("tokenizer.ggml.tokens", {1, 2});
       }},
      {"type count",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "llama");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
         w.add_i32_array("tokenizer.ggml.token_type", {1});
       }},
      {"type value",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "llama");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
         w.add_i32_array("tokenizer.ggml.token_type", {1, 1, 9});
       }},
      {"bos out of range",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "llama");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
         w.add_u32("tokenizer.ggml.bos_token_id", 3);
       }},
      {"merge names unknown token",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "gpt2");
         w.add_string("tokenizer.ggml.pre", "llama-bpe");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
         w.add_string_array("tokenizer.ggml.merges", {"a c"});
       }},
      {"merge without space",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "gpt2");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
         w.add_string_array("tokenizer.ggml.merges", {"ab"});
       }},
      {"merge result missing",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "gpt2");
         w.add_string_array("tokenizer.ggml.tokens", {"a", "b"});
         w.add_string_array("tokenizer.ggml.merges", {"a b"});
       }},
      {"unknown pre",
       [&](gguf::GgufWriter& w) {
         w.add_string("tokenizer.ggml.model", "gpt2");
         w.add_string("tokenizer.ggml.pre", "qwen2");
         w.add_string_array("tokenizer.ggml.tokens", tokens);
         w.add_string_array("tokenizer.ggml.merges", {"a b"});
       }},
  };
  for (const auto& c : cases) {
    gguf::GgufWriter writer;
    c.fill(writer);
    const auto path = (scratch_dir() / "bad-vocab.gguf").string();
    writer.write(path);
    try {
      Tokenizer::from_gguf_path(path);
      ADD_FAILURE() << c.name << ": loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::tokenizer) << c.name << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("tokenizer.ggml"), std::string::npos) << e.what();
    }
  }
}

TEST(TokenizerLoad, SmallHandMadeVocabularies) {
  // A tiny byte-level vocab: every byte a token, one merge.
  const tokenizer::ByteLevelAlphabet alphabet;
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(alphabet.encode(static_cast<uint8_t>(b)));
  tokens.push_back("ab");
  gguf::GgufWriter writer;
  writer.add_string("tokenizer.ggml.model", "gpt2");
  writer.add_string("tokenizer.ggml.pre", "llama-bpe");
  writer.add_string_array("tokenizer.ggml.tokens", tokens);
  writer.add_string_array("tokenizer.ggml.merges", {"a b"});
  const auto path = (scratch_dir() / "tiny-bpe.gguf").string();
  writer.write(path);
  const auto tok = Tokenizer::from_gguf_path(path);
  EXPECT_EQ(tok.encode("abc ab", false, false), (std::vector<TokenId>{256, 'c', ' ', 256}));
  EXPECT_EQ(tok.special_ids().bos, tokenizer::kNoToken);
  EXPECT_EQ(tok.encode("ab", true, true), std::vector<TokenId>{256});  // no BOS to add
}

TEST(TokenizerLoad, UserDefinedTokensSplitEvenWithoutParseSpecial) {
  const tokenizer::ByteLevelAlphabet alphabet;
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(alphabet.encode(static_cast<uint8_t>(b)));
  tokens.push_back("<tag>");     // 256, user-defined
  tokens.push_back("<|ctrl|>");  // 257, control
  std::vector<int32_t> types(256, 1);
  types.push_back(4);
  types.push_back(3);
  gguf::GgufWriter writer;
  writer.add_string("tokenizer.ggml.model", "gpt2");
  writer.add_string("tokenizer.ggml.pre", "llama-bpe");
  writer.add_string_array("tokenizer.ggml.tokens", tokens);
  writer.add_i32_array("tokenizer.ggml.token_type", types);
  writer.add_string_array("tokenizer.ggml.merges", {});
  const auto path = (scratch_dir() / "user-defined.gguf").string();
  writer.write(path);
  const auto tok = Tokenizer::from_gguf_path(path);
  EXPECT_EQ(tok.encode("x<tag>y", false, false), (std::vector<TokenId>{'x', 256, 'y'}));
  EXPECT_EQ(tok.encode("<|ctrl|>", false, true), std::vector<TokenId>{257});
  EXPECT_EQ(tok.encode("<|ctrl|>", false, false).size(), 8u);
  EXPECT_EQ(tok.decode(std::vector<TokenId>{256, 257}, true), "<tag>");
}

TEST(TokenizerLoad, BadTokenizerJson) {
  for (const char* json :
       {"", "{", "[]", "{\"model\": {\"type\": \"Unigram\"}}",
        "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
        "{\"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", "
        "\"vocab\": {\"a\": 0}, \"merges\": [\"a q\"]}}",
        "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {}}"}) {
    try {
      Tokenizer::from_hf_json(json, "bad.json");
      ADD_FAILURE() << json << ": loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), ErrorCategory::tokenizer) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(Tokenizer::from_path("/nonexistent/tokenizer.json"), Error);
}

TEST(TokenizerLoad, FromPathPicksTheFormat) {
  EXPECT_EQ(Tokenizer::from_path(llama2_gguf_path()).kind(), tokenizer::VocabKind::spm);
}

}  // namespace
}  // namespace bitnet::test
