// The public C++ API (include/bitnet/bitnet.hpp) as a user sees it: nothing internal included.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "bitnet/bitnet.hpp"
#include "test_support.hpp"

namespace {

const bitnet::Model& tiny() {
  static const bitnet::Model model =
      bitnet::Model::load(bitnet::test::fixture("tiny-b158-i2s.gguf"));
  return model;
}

bitnet::EngineConfig small_engine() {
  bitnet::EngineConfig c;
  c.n_ctx = 256;
  c.n_threads = 1;
  return c;
}

bitnet::GenerationConfig greedy(int32_t n) {
  auto c = bitnet::GenerationConfig::greedy();
  c.max_new_tokens = n;
  return c;
}

template <typename F>
bitnet::ErrorCategory category_of(F&& f) {
  try {
    f();
  } catch (const bitnet::Error& e) {
    return e.category();
  }
  ADD_FAILURE() << "no bitnet::Error thrown";
  return bitnet::ErrorCategory::internal;
}

TEST(ApiModel, InfoAndConfig) {
  const auto& info = tiny().info();
  EXPECT_EQ(info.arch, "bitnet-b1.58");
  EXPECT_EQ(info.quantization, "I2_S");
  EXPECT_EQ(info.file_bytes, 41018784);
  EXPECT_GT(info.n_params, 128256 * 128);  // at least the embedding
  EXPECT_GT(info.bits_per_weight, 1.0);
  EXPECT_LT(info.bits_per_weight, 16.0);
  // I2_S: 2 bits per weight plus one 32-byte scale block per tensor.
  EXPECT_GT(info.ternary_bits_per_weight, 2.0);
  EXPECT_LT(info.ternary_bits_per_weight, 2.01);
  const auto& c = tiny().config();
  EXPECT_EQ(c.n_embd, 128);
  EXPECT_EQ(c.n_layer, 4);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.n_vocab, 128256);
  EXPECT_EQ(c.ffn_activation, "relu2");
  EXPECT_TRUE(c.tied_output);
}

TEST(ApiModel, LoadReportsProgressAndPrefaultsWithoutMmap) {
  std::vector<float> seen;
  bitnet::LoadConfig config;
  config.use_mmap = false;
  config.progress = [&](float f) { seen.push_back(f); };
  const auto model = bitnet::Model::load(bitnet::test::fixture("tiny-b158-i2s.gguf"), config);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.back(), 1.0f);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
  EXPECT_EQ(model.info().n_params, tiny().info().n_params);
}

TEST(ApiModel, LoadErrorsHaveCategories) {
  EXPECT_EQ(category_of([] { bitnet::Model::load("/nonexistent/model.gguf"); }),
            bitnet::ErrorCategory::io);
  bitnet::LoadConfig on_gpu;
  on_gpu.device = bitnet::Device::cuda(0);
  EXPECT_EQ(category_of(
                [&] { bitnet::Model::load(bitnet::test::fixture("tiny-b158-i2s.gguf"), on_gpu); }),
            bitnet::ErrorCategory::device);
}

TEST(ApiModel, HeadTypeQuantizesTheHeadAtLoad) {
  EXPECT_EQ(bitnet::parse_head_type("f16"), bitnet::HeadType::stored);
  EXPECT_EQ(bitnet::parse_head_type("stored"), bitnet::HeadType::stored);
  EXPECT_EQ(bitnet::parse_head_type("Q8_0"), bitnet::HeadType::q8_0);
  EXPECT_EQ(bitnet::parse_head_type("q6_k"), bitnet::HeadType::q6_k);
  EXPECT_EQ(category_of([] { bitnet::parse_head_type("q4_0"); }), bitnet::ErrorCategory::config);
  EXPECT_EQ(to_string(bitnet::HeadType::q6_k), "q6_k");
  EXPECT_EQ(tiny().info().head_type, "F16");

  std::vector<float> seen;
  bitnet::LoadConfig config;
  config.head_type = bitnet::HeadType::q8_0;
  config.use_mmap = false;  // the prefault skips the released head pages
  config.progress = [&](float f) { seen.push_back(f); };
  const auto model = bitnet::Model::load(bitnet::test::fixture("tiny-b158-i2s.gguf"), config);
  EXPECT_EQ(model.info().head_type, "Q8_0");
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.back(), 1.0f);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GE(seen[i], seen[i - 1]);
  bitnet::Engine engine(model, small_engine());
  EXPECT_EQ(engine.generate("Hello", greedy(4)).tokens.size(), 4u);

  config.head_type = bitnet::HeadType::q6_k;  // n_embd 128: not whole 256-value blocks
  EXPECT_EQ(category_of(
                [&] { bitnet::Model::load(bitnet::test::fixture("tiny-b158-i2s.gguf"), config); }),
            bitnet::ErrorCategory::config);
}

TEST(ApiModel, TokenizeFollowsTheModel) {
  const auto ids = tiny().tokenize("Hello<|eot_id|>");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], 128000);  // BOS per the metadata
  EXPECT_EQ(ids[2], 128009);  // special token parsed
  EXPECT_EQ(tiny().detokenize(std::vector<int32_t>(ids.begin() + 1, ids.end() - 1)), "Hello");
}

TEST(ApiDevice, ParseNameAndAvailability) {
  EXPECT_EQ(bitnet::Device::parse("cpu"), bitnet::Device::cpu());
  EXPECT_EQ(bitnet::Device::parse("cuda:1"), bitnet::Device::cuda(1));
  EXPECT_EQ(bitnet::Device::parse("cuda").name(), "cuda:0");
  EXPECT_EQ(category_of([] { bitnet::Device::parse("tpu"); }), bitnet::ErrorCategory::device);
  EXPECT_EQ(category_of([] { bitnet::Device::parse("cuda:x"); }), bitnet::ErrorCategory::device);
  const auto devices = bitnet::available_devices();
  ASSERT_FALSE(devices.empty());
  EXPECT_EQ(devices.front(), bitnet::Device::cpu());
}

TEST(ApiEngine, GenerateStreamEqualsGenerate) {
  bitnet::Engine engine(tiny(), small_engine());
  const auto plain = engine.generate("The quick brown fox", greedy(8));
  engine.clear_cache();
  std::string streamed;
  int calls = 0;
  const auto result =
      engine.generate_stream("The quick brown fox", greedy(8), [&](std::string_view piece) {
        streamed += piece;
        ++calls;
        return true;
      });
  EXPECT_EQ(result.text, plain.text);
  EXPECT_EQ(streamed, plain.text);
  EXPECT_GT(calls, 1);
  EXPECT_EQ(result.tokens.size(), 8u);
  EXPECT_EQ(result.finish_reason, bitnet::FinishReason::length);
}

TEST(ApiEngine, CallbackCancels) {
  bitnet::Engine engine(tiny(), small_engine());
  std::string streamed;
  int calls = 0;
  const auto result =
      engine.generate_stream("The quick brown fox", greedy(16), [&](std::string_view piece) {
        streamed += piece;
        return ++calls < 2;
      });
  EXPECT_EQ(result.finish_reason, bitnet::FinishReason::cancelled);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(result.text, streamed);
  EXPECT_LT(result.tokens.size(), 16u);
  // The engine is usable again.
  EXPECT_EQ(engine.generate("Hi", greedy(2)).tokens.size(), 2u);
}

TEST(ApiEngine, IteratorStream) {
  bitnet::Engine engine(tiny(), small_engine());
  const auto expected = engine.generate("The quick brown fox", greedy(8)).text;
  engine.clear_cache();
  std::string text;
  {
    auto stream = engine.stream("The quick brown fox", greedy(8));
    for (const std::string& piece : stream) text += piece;
    EXPECT_TRUE(stream.finished());
    EXPECT_EQ(stream.result().finish_reason, bitnet::FinishReason::length);
    EXPECT_EQ(stream.result().text, expected);
  }
  EXPECT_EQ(text, expected);

  // Leaving the loop early and dropping the stream frees the engine.
  {
    auto stream = engine.stream("Hello", greedy(8));
    for (const std::string& piece : stream) {
      (void)piece;
      break;
    }
    EXPECT_EQ(category_of([&] { engine.generate("x", greedy(1)); }),
              bitnet::ErrorCategory::config);  // busy while the stream lives
  }
  EXPECT_EQ(engine.last_metrics().generated_tokens, 1);
  EXPECT_NO_THROW(engine.generate("x", greedy(1)));
}

TEST(ApiEngine, MetricsAndStats) {
  bitnet::Engine engine(tiny(), small_engine());
  const auto r = engine.generate("The quick brown fox", greedy(6));
  const auto& m = r.metrics;
  EXPECT_EQ(m.prompt_tokens, 5);
  EXPECT_EQ(m.prompt_tokens_evaluated, 5);
  EXPECT_EQ(m.generated_tokens, 6);
  EXPECT_EQ(m.decode_steps, 5);
  EXPECT_GT(m.prompt_ms, 0);
  EXPECT_GT(m.decode_ms, 0);
  EXPECT_GE(m.time_to_first_token_ms, m.prompt_ms);
  EXPECT_NEAR(m.generation_tokens_per_s, 1000.0 * 5 / m.decode_ms, 1e-6);
  EXPECT_NEAR(m.prompt_tokens_per_s, 1000.0 * 5 / m.prompt_ms, 1e-6);
  EXPECT_NEAR(m.ms_per_token, m.decode_ms / 5, 1e-9);
  EXPECT_GT(m.peak_memory_bytes, 1 << 20);
  EXPECT_EQ(engine.last_metrics().generated_tokens, 6);

  const auto s = engine.stats();
  EXPECT_EQ(s.n_ctx, 256);
  EXPECT_EQ(s.kv_tokens, 5 + 5);
  EXPECT_NEAR(s.kv_usage, 10.0 / 256, 1e-12);
  EXPECT_EQ(s.kv_bytes, 2 * 2 * 4 * 256 * 64);  // K and V, F16, 4 layers, 2 kv heads x 32
  EXPECT_EQ(s.n_threads, 1);
  EXPECT_NE(s.backend.find("cpu"), std::string::npos);
  engine.clear_cache();
  EXPECT_EQ(engine.stats().kv_tokens, 0);
}

TEST(ApiEngine, ConfigErrorsNameTheField) {
  bitnet::EngineConfig bad = small_engine();
  bad.n_ctx = -1;
  EXPECT_EQ(category_of([&] { bitnet::Engine(tiny(), bad); }), bitnet::ErrorCategory::config);
  bad = small_engine();
  bad.device = bitnet::Device::cuda(0);
  EXPECT_EQ(category_of([&] { bitnet::Engine(tiny(), bad); }), bitnet::ErrorCategory::device);
  bitnet::Engine engine(tiny(), small_engine());
  auto config = greedy(4);
  config.top_p = 0;
  try {
    engine.generate("x", config);
    FAIL();
  } catch (const bitnet::Error& e) {
    EXPECT_EQ(e.category(), bitnet::ErrorCategory::config);
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
}

TEST(ApiEngine, ContextOverflowIsCapacity) {
  bitnet::EngineConfig config = small_engine();
  config.n_ctx = 4;
  bitnet::Engine engine(tiny(), config);
  EXPECT_EQ(category_of([&] { engine.generate("one two three four five six", greedy(2)); }),
            bitnet::ErrorCategory::capacity);
  EXPECT_EQ(engine.generate("Hi", greedy(10)).finish_reason, bitnet::FinishReason::context_full);
}

TEST(ApiEngine, EnginesShareOneModelAcrossThreads) {
  const auto expected = bitnet::Engine(tiny(), small_engine()).generate("Hello", greedy(6)).text;
  std::vector<std::string> texts(3);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < texts.size(); ++i) {
    threads.emplace_back([&, i] {
      bitnet::Engine engine(tiny(), small_engine());
      texts[i] = engine.generate("Hello", greedy(6)).text;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& t : texts) EXPECT_EQ(t, expected);
}

TEST(ApiChat, SecondTurnProcessesOnlyItsOwnTokens) {
  bitnet::Engine engine(tiny(), small_engine());
  bitnet::Chat chat(engine, "You are terse.");
  const auto first = chat.send("Hi there!", greedy(6));
  EXPECT_EQ(first.metrics.prompt_tokens_evaluated, first.metrics.prompt_tokens);
  const auto second = chat.send("And now?", greedy(6));
  // New: the pending last reply token (the 6th was not evaluated), the end of the reply
  // (<|eot_id|>), and the user turn up to the assistant header.
  const auto turn = tiny().tokenize(
      "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnd now?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n",
      /*add_bos=*/false, /*parse_special=*/true);
  EXPECT_EQ(second.metrics.prompt_tokens_evaluated, static_cast<int32_t>(turn.size() + 1));
  EXPECT_EQ(second.metrics.prompt_tokens,
            first.metrics.prompt_tokens + 6 + static_cast<int32_t>(turn.size()));
  ASSERT_EQ(chat.messages().size(), 5u);
  EXPECT_EQ(chat.messages()[3].content, "And now?");

  chat.reset();
  EXPECT_EQ(chat.messages().size(), 1u);  // the system prompt stays
  const auto again = chat.send("Hi there!", greedy(6));
  EXPECT_EQ(again.text, first.text);
}

TEST(ApiModel, MetadataAndChatTemplate) {
  const auto metadata = tiny().metadata();
  const auto find = [&](const std::string& key) -> std::string {
    for (const auto& [k, v] : metadata)
      if (k == key) return v;
    return "<absent>";
  };
  EXPECT_EQ(find("general.architecture"), "bitnet-b1.58");
  EXPECT_EQ(find("bitnet-b1.58.block_count"), "4");
  EXPECT_EQ(find("tokenizer.ggml.tokens"), "<absent>");  // arrays are left out
  const std::vector<bitnet::ChatMessage> messages = {{"user", "Hi"}};
  const auto prompt = tiny().apply_chat_template(messages, true, "llama3");
  EXPECT_NE(prompt.find("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"),
            std::string::npos);
  EXPECT_TRUE(prompt.ends_with("<|start_header_id|>assistant<|end_header_id|>\n\n"));
  EXPECT_EQ(category_of([&] { (void)tiny().apply_chat_template(messages, true, "nope"); }),
            bitnet::ErrorCategory::config);
}

TEST(ApiEngine, EvalAppendsAndReturnsEveryRow) {
  bitnet::Engine engine(tiny(), small_engine());
  const auto n_vocab = static_cast<size_t>(tiny().config().n_vocab);
  const auto tokens = tiny().tokenize("The quick brown fox");
  const auto all = engine.eval(tokens, true);
  ASSERT_EQ(all.size(), tokens.size() * n_vocab);
  const std::vector<float> last(all.end() - static_cast<std::ptrdiff_t>(n_vocab), all.end());
  EXPECT_EQ(engine.n_past(), static_cast<int32_t>(tokens.size()));
  EXPECT_EQ(engine.eval(std::vector<int32_t>{42}, false).size(), n_vocab);
  EXPECT_EQ(engine.n_past(), static_cast<int32_t>(tokens.size()) + 1);
  // Bad ids and overflows change nothing.
  EXPECT_EQ(category_of([&] { engine.eval(std::vector<int32_t>{-1}); }),
            bitnet::ErrorCategory::config);
  EXPECT_EQ(category_of([&] { engine.eval(std::vector<int32_t>(300, 42)); }),
            bitnet::ErrorCategory::capacity);
  EXPECT_EQ(engine.n_past(), static_cast<int32_t>(tokens.size()) + 1);
  engine.clear_cache();
  const auto again = engine.eval(tokens, false);
  EXPECT_EQ(std::vector<float>(again.begin(), again.end()), last);  // the same batch, same bits
  // A generation continues from the evaluated tokens' cache; eval after it drops the pending
  // (sampled, never evaluated) last token.
  const auto result = engine.generate("The quick brown fox", greedy(4));
  EXPECT_EQ(engine.n_past(), static_cast<int32_t>(tokens.size()) + 3);
  engine.eval(std::vector<int32_t>{result.tokens.back()});
  EXPECT_EQ(engine.n_past(), static_cast<int32_t>(tokens.size()) + 4);
}

TEST(ApiChat, UnknownTemplateIsAConfigError) {
  bitnet::Engine engine(tiny(), small_engine());
  EXPECT_EQ(category_of([&] { bitnet::Chat(engine, "", "no-such-template"); }),
            bitnet::ErrorCategory::config);
  EXPECT_NO_THROW(bitnet::Chat(engine, "", "bitnet"));
}

}  // namespace
