// JSON-constrained decoding (src/server/json_constraint): the incremental validator against
// accept/reject tables in every split, the logits mask against the validator token by token, a
// random-generation property checked by nlohmann::json, and a timing of the mask on a 128k vocab.
#include "server/json_constraint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace bitnet::server {
namespace {

bool feed_all(JsonPrefix& p, std::string_view s) {
  return p.feed(s);
}

bool feed_bytewise(JsonPrefix& p, std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (!p.feed(s.substr(i, 1))) return false;
  }
  return true;
}

// Valid JSON texts with an object at the top.
const std::vector<std::string> kValidObjects = {
    "{}",
    " \t\r\n{ } \n",
    R"({"a":1})",
    R"({"a" : 1 , "b" : [ ] , "c" : { } })",
    R"({"n":[0,-0,1,-1,10,123.456,-0.5,1e5,1E+5,2e-3,0.0e0,-12.34E-56]})",
    R"({"lit":[true,false,null],"s":"","t":"x"})",
    R"({"esc":"\"\\\/\b\f\n\r\t\u0000\u00e9\uABCD\ud83d\ude00"})",
    "{\"utf8\":"
    "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBF\xF4\x8F\xBF\xBF\xED\x9F\xBF\x7F\"}",
    R"({"deep":[[[[{"a":[{"b":null}]}]]]]})",
    R"({"":{"":[[],{},"",0]}})",
    "{\"k\":1}\n\n",
};

// Invalid texts: each either fails to feed at some byte or never becomes complete.
struct Invalid {
  const char* name;
  std::string text;
};
const std::vector<Invalid> kInvalid = {
    {"trailing comma in object", R"({"a":1,})"},
    {"trailing comma in array", R"({"a":[1,]})"},
    {"leading zero", R"({"a":01})"},
    {"negative leading zero", R"({"a":-01})"},
    {"bare minus", R"({"a":-})"},
    {"dot without digits", R"({"a":1.})"},
    {"dot first", R"({"a":.5})"},
    {"exponent without digits", R"({"a":1e})"},
    {"plus sign", R"({"a":+1})"},
    {"bad escape", R"({"a":"\q"})"},
    {"short unicode escape", R"({"a":"\u12"})"},
    {"non-hex unicode escape", R"({"a":"\u12g4"})"},
    {"lone high surrogate", R"({"a":"\ud83d"})"},
    {"lone low surrogate", R"({"a":"\ude00"})"},
    {"high surrogate then non-low", R"({"a":"\ud83d\u0041"})"},
    {"unterminated string", R"({"a":"abc)"},
    {"unterminated object", R"({"a":1)"},
    {"unterminated array", R"({"a":[1,2)"},
    {"empty", ""},
    {"whitespace only", "  \n"},
    {"bare number in object mode", "42"},
    {"bare string in object mode", R"("x")"},
    {"array in object mode", "[1]"},
    {"control char in string", "{\"a\":\"x\x01y\"}"},
    {"newline in string", "{\"a\":\"x\ny\"}"},
    {"tab in string", "{\"a\":\"x\ty\"}"},
    {"unquoted key", "{a:1}"},
    {"single quotes", "{'a':1}"},
    {"missing colon", R"({"a" 1})"},
    {"missing value", R"({"a":})"},
    {"number key", "{1:2}"},
    {"bad literal", R"({"a":tru})"},
    {"bad literal case", R"({"a":True})"},
    {"literal with suffix", R"({"a":truex})"},
    {"mismatched brackets", R"({"a":[1}})"},
    {"garbage after value", "{} x"},
    {"second value", "{}{}"},
    {"comment", "{} // c"},
    {"utf8 lone continuation", "{\"a\":\"\x80\"}"},
    {"utf8 overlong C0", "{\"a\":\"\xC0\xAF\"}"},
    {"utf8 overlong C1", "{\"a\":\"\xC1\xBF\"}"},
    {"utf8 overlong E0", "{\"a\":\"\xE0\x80\xAF\"}"},
    {"utf8 overlong F0", "{\"a\":\"\xF0\x80\x80\xAF\"}"},
    {"utf8 surrogate", "{\"a\":\"\xED\xA0\x80\"}"},
    {"utf8 above U+10FFFF", "{\"a\":\"\xF4\x90\x80\x80\"}"},
    {"utf8 F5", "{\"a\":\"\xF5\x80\x80\x80\"}"},
    {"utf8 FF", "{\"a\":\"\xFF\"}"},
    {"utf8 truncated", "{\"a\":\"\xE2\x82\"}"},
    {"utf8 outside string", "{\xC3\xA9}"},
    {"depth 65", std::string(64, '[').insert(0, "{\"a\":") + std::string(64, ']') + "}"},
};

TEST(JsonConstraintPrefix, AcceptsValidObjectsInEverySplit) {
  for (const auto& doc : kValidObjects) {
    SCOPED_TRACE(doc);
    ASSERT_TRUE(nlohmann::json::accept(doc)) << "the table itself must be valid JSON";
    JsonPrefix whole;
    ASSERT_TRUE(feed_all(whole, doc));
    EXPECT_TRUE(whole.complete());
    EXPECT_EQ(whole.depth(), 0);

    JsonPrefix bytewise;
    ASSERT_TRUE(feed_bytewise(bytewise, doc));
    EXPECT_TRUE(bytewise.complete());
    EXPECT_EQ(bytewise, whole);

    for (size_t split = 0; split <= doc.size(); ++split) {
      JsonPrefix p;
      ASSERT_TRUE(p.feed(std::string_view(doc).substr(0, split))) << "split " << split;
      ASSERT_TRUE(p.feed(std::string_view(doc).substr(split))) << "split " << split;
      EXPECT_TRUE(p.complete()) << "split " << split;
      EXPECT_EQ(p, whole) << "split " << split;
    }
  }
}

TEST(JsonConstraintPrefix, CompleteOnlyWhenTheObjectCloses) {
  const std::string doc = R"( {"a":[1,{"b":"}"}],"c":null} )";
  JsonPrefix p;
  for (size_t i = 0; i < doc.size(); ++i) {
    ASSERT_TRUE(p.feed(doc.substr(i, 1)));
    const bool closed = i + 1 >= doc.size() - 1;  // the final '}' and the space after it
    EXPECT_EQ(p.complete(), closed) << "after " << doc.substr(0, i + 1);
  }
}

TEST(JsonConstraintPrefix, RejectsInvalidTexts) {
  for (const auto& bad : kInvalid) {
    SCOPED_TRACE(bad.name);
    if (std::string_view(bad.name) != "depth 65") {  // valid JSON, only too deep
      ASSERT_FALSE(nlohmann::json::accept(bad.text) && nlohmann::json::parse(bad.text).is_object())
          << "the table itself must not be a valid JSON object";
    }
    JsonPrefix whole;
    const bool fed = feed_all(whole, bad.text);
    EXPECT_FALSE(fed && whole.complete());

    JsonPrefix bytewise;
    const bool fed_bytewise = feed_bytewise(bytewise, bad.text);
    EXPECT_EQ(fed_bytewise, fed);
    EXPECT_FALSE(fed_bytewise && bytewise.complete());
  }
}

TEST(JsonConstraintPrefix, RejectionLeavesTheStateUnchanged) {
  JsonPrefix p;
  ASSERT_TRUE(p.feed(R"({"a":[1,"x)"));
  const JsonPrefix before = p;
  EXPECT_FALSE(p.feed("y\x01"));     // the second byte fails: the first is not kept either
  EXPECT_FALSE(p.feed("\"]}}"));     // the last brace is one too many
  EXPECT_FALSE(p.feed("\xC3\x28"));  // a bad continuation byte
  EXPECT_EQ(p, before);
  EXPECT_TRUE(p.feed("\"]}"));
  EXPECT_TRUE(p.complete());
  EXPECT_FALSE(p.feed("x"));
  EXPECT_TRUE(p.feed(" \n"));
  EXPECT_TRUE(p.complete());
}

TEST(JsonConstraintPrefix, DepthLimit) {
  const auto nested = [](int depth) {
    std::string s;
    for (int i = 0; i < depth; ++i) s += i % 2 == 0 ? "{\"k\":" : "[";
    s += "0";
    for (int i = depth - 1; i >= 0; --i) s += i % 2 == 0 ? "}" : "]";
    return s;
  };
  JsonPrefix ok;
  EXPECT_TRUE(ok.feed(nested(JsonPrefix::kMaxDepth)));
  EXPECT_TRUE(ok.complete());
  JsonPrefix deep;
  EXPECT_FALSE(deep.feed(nested(JsonPrefix::kMaxDepth + 1)));
  JsonPrefix at_limit;
  ASSERT_TRUE(at_limit.feed(nested(JsonPrefix::kMaxDepth).substr(0, 5 * 32 + 32)));
  EXPECT_EQ(at_limit.depth(), JsonPrefix::kMaxDepth);
  EXPECT_FALSE(at_limit.feed("["));
  EXPECT_FALSE(at_limit.feed("{"));
  EXPECT_TRUE(at_limit.feed("\"deepest\""));
}

TEST(JsonConstraintPrefix, NumbersStayFiniteAsDoubles) {
  const std::string big(JsonPrefix::kMaxMagnitude, '9');
  for (const std::string& ok :
       std::vector<std::string>{"1e307", "-9.99e307", "1e-99999", "0.5E+3", big, big + ".5e-300",
                                "0e308", "1" + std::string(300, '0') + "e7"}) {
    SCOPED_TRACE(ok);
    JsonPrefix p;
    ASSERT_TRUE(p.feed("{\"n\":" + ok + "}"));
    EXPECT_TRUE(p.complete());
    EXPECT_TRUE(std::isfinite(nlohmann::json::parse("{\"n\":" + ok + "}")["n"].get<double>()));
  }
  for (const std::string& bad :
       std::vector<std::string>{"1e308", "1e99999", "-12e307", big + "9", "0.1e309"}) {
    SCOPED_TRACE(bad);
    JsonPrefix p;
    EXPECT_FALSE(p.feed("{\"n\":" + bad + "}"));
  }
}

TEST(JsonConstraintPrefix, Utf8SplitAcrossFeeds) {
  JsonPrefix p;
  ASSERT_TRUE(p.feed("{\"a\":\"\xF0"));
  EXPECT_FALSE(p.in_string());
  ASSERT_TRUE(p.feed("\x9F"));
  EXPECT_FALSE(p.feed("\""));  // the character is unfinished
  ASSERT_TRUE(p.feed("\x98"));
  ASSERT_TRUE(p.feed("\x80"));
  EXPECT_TRUE(p.in_string());
  ASSERT_TRUE(p.feed("\"}"));
  EXPECT_TRUE(p.complete());
}

TEST(JsonConstraintPrefix, AnyTopLevelValueWithoutRequireObject) {
  for (const std::string doc : {"42", "-0.5e3", " true ", "null", R"("s")", "[1,[2]]", "{}", "0"}) {
    SCOPED_TRACE(doc);
    JsonPrefix p(/*require_object=*/false);
    ASSERT_TRUE(p.feed(doc));
    EXPECT_TRUE(p.complete());
  }
  JsonPrefix num(false);
  ASSERT_TRUE(num.feed("12"));
  EXPECT_TRUE(num.complete());  // complete, and still extensible
  ASSERT_TRUE(num.feed("3."));
  EXPECT_FALSE(num.complete());
  ASSERT_TRUE(num.feed("5 "));
  EXPECT_TRUE(num.complete());
  EXPECT_FALSE(num.feed("6"));
  for (const std::string bad : {"01", "1 2", "tru", "\"a", "[1,]", "1.", "--1"}) {
    JsonPrefix p(false);
    EXPECT_FALSE(p.feed(bad) && p.complete()) << bad;
  }
}

TEST(JsonConstraintPrefix, WhitespaceRunLimit) {
  JsonPrefix p(true, /*max_whitespace_run=*/3);
  EXPECT_TRUE(p.feed("   {   \"a\"   :   \"      \"   }   "));
  EXPECT_FALSE(p.feed(" "));
  JsonPrefix q(true, 3);
  EXPECT_FALSE(q.feed("{    }"));
  JsonPrefix unlimited;
  EXPECT_TRUE(unlimited.feed("{" + std::string(10000, '\n')));
}

TEST(JsonConstraintPrefix, CopyIsSmallAndTrivial) {
  static_assert(std::is_trivially_copyable_v<JsonPrefix>);
  EXPECT_LE(sizeof(JsonPrefix), 32u);
}

// ---- the logits mask

constexpr int32_t kEnd = 0;

std::vector<std::string> small_vocab() {
  return {
      "",  // 0: end of text (special)
      "",  // 1: another special token
      "{",
      "}",
      "[",
      "]",
      ":",
      ",",
      "\"",
      " ",
      "\n",
      "a",
      "b",
      "key",
      "\":",
      "\",",
      "\"}",
      "{\"",
      "\"]",
      "0",
      "1",
      "12",
      "-",
      ".",
      "5",
      "e",
      "E+",
      "true",
      "false",
      "null",
      "tr",
      "ue",
      "nu",
      "ll",
      "fa",
      "lse",
      "\\",
      "n",
      "u",
      "00",
      "e9",
      "d83d",
      "\\u",
      "de00",
      "\xC3\xA9",
      "\xC3",
      "\xA9",
      "\xE2\x82",
      "\xAC",
      "\xF0\x9F",
      "\x98\x80",
      ", \"",
      "}}",
      "]]",
      "[{",
      "}]",
      "x y",
      "\t",
      "\x01",
      "\xFF",
      "'",
      "{}",
      "{\"a\":1}",
      " \"",
      "\":\"",
      "\"\"",
      "\\\"",
      "\\n",
      "0.5",
      "1e3",
      "-1",
      "\xC0\xAF",
      "\xED\xA0\x80",
  };
}

// What apply() must do, from the validator alone.
std::vector<bool> expected_allowed(const std::vector<std::string>& vocab, const JsonPrefix& state,
                                   const std::vector<int32_t>& ends) {
  std::vector<bool> allowed(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    const bool is_end = std::find(ends.begin(), ends.end(), static_cast<int32_t>(id)) != ends.end();
    if (is_end) {
      allowed[id] = state.complete();
    } else if (vocab[id].empty() || state.complete()) {
      allowed[id] = false;
    } else {
      JsonPrefix copy = state;
      allowed[id] = copy.feed(vocab[id]);
    }
  }
  return allowed;
}

void expect_mask_matches(const JsonLogitsMask& mask, const std::vector<std::string>& vocab,
                         const JsonPrefix& state, const std::vector<int32_t>& ends) {
  std::vector<float> logits(vocab.size() + 3, 1.5f);  // 3 padded entries past the vocabulary
  mask.apply(state, logits);
  const auto expected = expected_allowed(vocab, state, ends);
  for (size_t id = 0; id < vocab.size(); ++id) {
    EXPECT_EQ(!std::isinf(logits[id]), expected[id]) << "token " << id << " '" << vocab[id] << "'";
    if (expected[id]) {
      EXPECT_EQ(logits[id], 1.5f);
    }
    EXPECT_EQ(mask.allowed(state, static_cast<int32_t>(id)), expected[id]) << "token " << id;
  }
  for (size_t id = vocab.size(); id < logits.size(); ++id) EXPECT_TRUE(std::isinf(logits[id]));
}

TEST(JsonConstraintMask, SmallVocabStates) {
  const auto vocab = small_vocab();
  const std::vector<int32_t> ends = {kEnd};
  const JsonLogitsMask mask(vocab, ends);
  EXPECT_EQ(mask.n_vocab(), vocab.size());

  // At the start only '{'-led tokens and whitespace.
  std::vector<float> logits(vocab.size(), 0.0f);
  mask.apply(JsonPrefix(), logits);
  for (size_t id = 0; id < vocab.size(); ++id) {
    const bool allowed = !std::isinf(logits[id]);
    const char c = vocab[id].empty() ? 0 : vocab[id][0];
    const bool want =
        id >= 2 && (c == '{' || vocab[id] == " " || vocab[id] == "\n" || vocab[id] == "\t");
    EXPECT_EQ(allowed, want) << "token '" << vocab[id] << "'";
  }

  for (const std::string prefix :
       {"",           "{",           "{\"",           "{\"k",      "{\"k\\",
        "{\"k\\u",    "{\"k\\ud83d", "{\"k\\ud83d\\", "{\"k\xC3",  "{\"k\xF0\x9F",
        "{\"k\"",     "{\"k\":",     "{\"k\":1",      "{\"k\":-",  "{\"k\":0",
        "{\"k\":1.",  "{\"k\":1e",   "{\"k\":t",      "{\"k\":[",  "{\"k\":[1",
        "{\"k\":[1,", "{\"k\":{}",   "{\"k\":\"",     "{\"k\":1}", "{\"k\":1} "}) {
    SCOPED_TRACE(prefix);
    JsonPrefix state;
    ASSERT_TRUE(state.feed(prefix));
    expect_mask_matches(mask, vocab, state, ends);
  }
}

TEST(JsonConstraintMask, CompleteAllowsOnlyTheEndTokens) {
  auto vocab = small_vocab();
  vocab.push_back("<eot>");  // an end token that has bytes: still only an end token
  const int32_t eot = static_cast<int32_t>(vocab.size() - 1);
  const JsonLogitsMask mask(vocab, {kEnd, eot, 9999, -1});  // out-of-range ids are ignored
  JsonPrefix state;
  ASSERT_TRUE(state.feed("{}"));
  std::vector<float> logits(vocab.size(), 0.25f);
  mask.apply(state, logits);
  for (size_t id = 0; id < vocab.size(); ++id) {
    const bool is_end = id == static_cast<size_t>(kEnd) || id == static_cast<size_t>(eot);
    EXPECT_EQ(!std::isinf(logits[id]), is_end) << "token " << id;
  }
  JsonPrefix open;
  ASSERT_TRUE(open.feed("{"));
  std::fill(logits.begin(), logits.end(), 0.25f);
  mask.apply(open, logits);
  EXPECT_TRUE(std::isinf(logits[kEnd]));
  EXPECT_TRUE(std::isinf(logits[eot]));
  EXPECT_TRUE(std::isinf(logits[1]));
}

TEST(JsonConstraintMask, ShortLogitsSpan) {
  const auto vocab = small_vocab();
  const JsonLogitsMask mask(vocab, {kEnd});
  std::vector<float> logits(5, 0.0f);  // fewer logits than tokens: only those are written
  mask.apply(JsonPrefix(), logits);
  EXPECT_TRUE(std::isinf(logits[0]));
  EXPECT_TRUE(std::isinf(logits[1]));
  EXPECT_FALSE(std::isinf(logits[2]));  // "{"
  EXPECT_TRUE(std::isinf(logits[3]));   // "}"
}

// Property: a random walk through the allowed tokens always yields a JSON object.
TEST(JsonConstraintMask, RandomGenerationParsesAsObject) {
  const auto vocab = small_vocab();
  const std::vector<int32_t> ends = {kEnd};
  const JsonLogitsMask mask(vocab, ends);
  // Tokens that tend to finish the text, preferred once it gets long.
  std::vector<bool> closer(vocab.size());
  for (size_t id = 0; id < vocab.size(); ++id) {
    const auto& s = vocab[id];
    closer[id] = s == "}" || s == "]" || s == "\"" || s == "\":" || s == ":" || s == "1" ||
                 s == "null" || s == "\"}" || s == "\"]" || s == "}}" || s == "]]" || s == "ue" ||
                 s == "ll" || s == "lse" || s == "n" || s == "00" || s == "de00" || s == "\xA9" ||
                 s == "\xAC" || s == "\x98\x80" || s == "\\u" || s == "\\";
  }
  std::mt19937 rng(1234);
  int completed = 0;
  const int kRuns = 300;
  for (int run = 0; run < kRuns; ++run) {
    JsonPrefix state;
    std::string text;
    std::vector<float> logits(vocab.size());
    bool ended = false;
    for (int step = 0; step < 3000 && !ended; ++step) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      mask.apply(state, logits);
      std::vector<int32_t> allowed, closing;
      for (size_t id = 0; id < vocab.size(); ++id) {
        if (std::isinf(logits[id])) continue;
        allowed.push_back(static_cast<int32_t>(id));
        if (closer[id]) closing.push_back(static_cast<int32_t>(id));
      }
      ASSERT_FALSE(allowed.empty()) << "dead end after: " << text;
      const bool finish = step > 40 && !closing.empty() && rng() % 10 < 8;
      const auto& pool = finish ? closing : allowed;
      const int32_t id = pool[rng() % pool.size()];
      if (id == kEnd) {
        ended = true;
        break;
      }
      ASSERT_TRUE(state.feed(vocab[id])) << "the mask allowed a rejected token";
      text += vocab[id];
    }
    if (!ended) continue;
    ++completed;
    ASSERT_TRUE(state.complete());
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(text)) << text;
    EXPECT_TRUE(parsed.is_object()) << text;
  }
  EXPECT_GE(completed, kRuns * 9 / 10);
}

// ---- timing (printed, not asserted)

double time_apply_ms(const JsonLogitsMask& mask, const JsonPrefix& state,
                     std::vector<float>& logits, int reps) {
  double total = 0;
  for (int i = 0; i <= reps; ++i) {  // the first is a warm-up
    std::fill(logits.begin(), logits.end(), 0.0f);
    const auto t0 = std::chrono::steady_clock::now();
    mask.apply(state, logits);
    const auto t1 = std::chrono::steady_clock::now();
    if (i > 0) total += std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
  return total / reps;
}

void print_timings(const char* vocab_name, const JsonLogitsMask& mask) {
  std::vector<float> logits(mask.n_vocab(), 0.0f);
  const std::vector<std::pair<const char*, std::string>> states = {
      {"start", ""},
      {"mid-object (after a value)", R"({"name": "Ada", "tags": ["x"])"},
      {"mid-object (after a key)", R"({"name")"},
      {"value expected", R"({"name": )"},
      {"mid-string", R"({"name": "Ada Love)"},
      {"mid-number", R"({"age": 3)"},
      {"complete", R"({"a": 1})"},
  };
  for (const auto& [name, prefix] : states) {
    JsonPrefix state;
    ASSERT_TRUE(state.feed(prefix));
    const double ms = time_apply_ms(mask, state, logits, 20);
    size_t allowed = 0;
    for (const float v : logits) allowed += std::isinf(v) ? 0 : 1;
    std::printf("[ timing ] %s, %zu tokens, %-28s apply() %.3f ms (%zu allowed)\n", vocab_name,
                mask.n_vocab(), name, ms, allowed);
  }
}

TEST(JsonConstraintMaskBench, Llama3Vocab) {
  const auto path = test::fixture("tokenizer/llama3-tokenizer.json");
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no fixture " << path;
  const auto tok = tokenizer::Tokenizer::from_hf_json_path(path);
  std::vector<std::string> bytes(static_cast<size_t>(tok.n_vocab()));
  std::vector<int32_t> ends;
  for (int32_t id = 0; id < tok.n_vocab(); ++id) {
    if (tok.is_eog(id)) ends.push_back(id);
    if (!tok.is_special(id)) bytes[id] = tok.token_to_piece(id);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const JsonLogitsMask mask(bytes, ends);
  const auto t1 = std::chrono::steady_clock::now();
  std::printf("[ timing ] LLaMA-3 mask built in %.1f ms\n",
              std::chrono::duration<double, std::milli>(t1 - t0).count());
  print_timings("LLaMA-3", mask);

  // Spot check on the real vocabulary: the mask agrees with the validator in a few states.
  for (const std::string prefix : {"", "{\"a\": \"b", "{\"a\": ", "{\"a\": 1", "{\"a\": \"\xE2"}) {
    JsonPrefix state;
    ASSERT_TRUE(state.feed(prefix));
    std::vector<float> logits(bytes.size(), 0.0f);
    mask.apply(state, logits);
    const auto expected = expected_allowed(bytes, state, ends);
    size_t mismatches = 0;
    for (size_t id = 0; id < bytes.size(); ++id)
      mismatches += (!std::isinf(logits[id])) != expected[id];
    EXPECT_EQ(mismatches, 0u) << prefix;
  }
}

TEST(JsonConstraintMaskBench, Synthetic128kVocab) {
  // Random pieces shaped like a BPE vocabulary: mostly letters with a leading space, some
  // punctuation, digits, JSON structure and raw bytes.
  std::mt19937 rng(7);
  const std::string punct = "{}[]:,\"\\.-+!?'()<>/=_*#\n\t ";
  std::vector<std::string> vocab;
  vocab.reserve(128256);
  for (int b = 0; b < 256; ++b) vocab.emplace_back(1, static_cast<char>(b));
  while (vocab.size() < 128000) {
    std::string s;
    const int kind = static_cast<int>(rng() % 10);
    const int len = 1 + static_cast<int>(rng() % 8);
    if (kind < 6) {
      if (rng() % 2) s += ' ';
      for (int i = 0; i < len; ++i) s += static_cast<char>('a' + rng() % 26);
    } else if (kind < 8) {
      for (int i = 0; i < len; ++i) s += punct[rng() % punct.size()];
    } else if (kind < 9) {
      for (int i = 0; i < len; ++i) s += static_cast<char>('0' + rng() % 10);
    } else {
      s = "\xC3\xA9";
      for (int i = 0; i < len; ++i) s += static_cast<char>(0x80 + rng() % 128);
    }
    vocab.push_back(s);
  }
  std::vector<int32_t> ends;
  while (vocab.size() < 128256) {
    ends.push_back(static_cast<int32_t>(vocab.size()));
    vocab.emplace_back();
  }
  const JsonLogitsMask mask(vocab, {ends.begin(), ends.begin() + 2});
  print_timings("synthetic", mask);
}

}  // namespace
}  // namespace bitnet::server

namespace bitnet::server {
namespace {

// Every prefix of valid documents closes into a complete object, and that object parses.
TEST(JsonConstraintClosing, EveryPrefixClosesIntoValidJson) {
  const std::vector<std::string> docs = {
      R"({"a": [1, 2.5e-3, {"b": "x\u00e9\n"}], "c": true, "d": null, "e": -0.5})",
      R"({"k": "caf\u00e9 \ud83d\ude00", "n": [[], [[]], {}], "t": false})",
      "{\"utf8\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}"};
  for (const auto& doc : docs) {
    for (size_t n = 0; n <= doc.size(); ++n) {
      JsonPrefix p;
      if (!p.feed(std::string_view(doc).substr(0, n))) continue;
      const std::string suffix = p.closing_suffix();
      JsonPrefix closed = p;
      ASSERT_TRUE(closed.feed(suffix)) << doc.substr(0, n) << " + " << suffix;
      ASSERT_TRUE(closed.complete()) << doc.substr(0, n) << " + " << suffix;
      const auto text = doc.substr(0, n) + suffix;
      ASSERT_TRUE(nlohmann::json::accept(text)) << text;
      EXPECT_LE(suffix.size(), static_cast<size_t>(p.depth()) * 2 + 8) << text;
    }
  }
  JsonPrefix done;
  ASSERT_TRUE(done.feed("{}"));
  EXPECT_EQ(done.closing_suffix(), "");
}

}  // namespace
}  // namespace bitnet::server
