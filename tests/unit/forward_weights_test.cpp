// Binding a model's weights: bad files are model errors naming the tensor; optional scale tensors,
// untied heads and the embedding/head types real files use (F16, F32, BF16, Q8_0).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <optional>

#include "bitnet/error.hpp"
#include "common/fp16.hpp"
#include "forward_test_support.hpp"
#include "gguf/gguf_writer.hpp"
#include "model/context.hpp"
#include "quant/dequantize.hpp"

namespace bitnet {
namespace {

struct NewTensor {
  std::string name;
  TensorType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> bytes;
};

// A copy of the TQ2_0 fixture where `edit` may replace (return a tensor) or drop (return nullopt
// with drop = true) each tensor; `extra` tensors are appended.
std::string write_variant(
    const std::string& name,
    const std::function<std::optional<NewTensor>(const gguf::TensorInfo&, bool& drop)>& edit,
    std::vector<NewTensor> extra = {}) {
  const auto src = gguf::GgufFile::open(test::fixture("tiny-bitnet-tq2_0.gguf"));
  gguf::GgufWriter w;
  for (const auto& [key, value] : src.metadata()) w.copy_key(key, value);
  for (const auto& t : src.tensors()) {
    bool drop = false;
    auto replacement = edit(t, drop);
    if (drop) continue;
    if (replacement) {
      w.add_tensor(replacement->name, replacement->type, replacement->ne,
                   std::move(replacement->bytes));
    } else {
      const auto* p = reinterpret_cast<const uint8_t*>(t.data);
      w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                   std::vector<uint8_t>(p, p + t.nbytes));
    }
  }
  for (auto& e : extra) w.add_tensor(e.name, e.type, e.ne, std::move(e.bytes));
  const auto path = (test::scratch_dir() / (name + ".gguf")).string();
  w.write(path);
  return path;
}

std::vector<float> embd_values(const gguf::TensorInfo& t) {
  std::vector<float> v(static_cast<size_t>(t.n_elements));
  dequantize_tensor(t.type, t.data, v.data(), t.n_elements, t.ne[0]);
  return v;
}

NewTensor as_type(const gguf::TensorInfo& t, TensorType type) {
  const auto v = embd_values(t);
  NewTensor n{std::string(t.name), type, {t.ne[0], t.ne[1]}, {}};
  if (type == TensorType::F32) {
    n.bytes.resize(v.size() * 4);
    std::memcpy(n.bytes.data(), v.data(), n.bytes.size());
  } else if (type == TensorType::BF16) {
    for (float x : v) {
      const uint16_t h = fp32_to_bf16(x);
      n.bytes.push_back(static_cast<uint8_t>(h & 0xff));
      n.bytes.push_back(static_cast<uint8_t>(h >> 8));
    }
  } else {  // Q8_0: blocks of an fp16 scale and 32 int8 values, as ggml's reference quantizer
    for (size_t b = 0; b < v.size(); b += 32) {
      float amax = 0;
      for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[b + j]));
      const float d = amax / 127.0f;
      const float id = d != 0 ? 1.0f / d : 0.0f;
      const uint16_t dh = fp32_to_fp16(d);
      n.bytes.push_back(static_cast<uint8_t>(dh & 0xff));
      n.bytes.push_back(static_cast<uint8_t>(dh >> 8));
      for (size_t j = 0; j < 32; ++j)
        n.bytes.push_back(static_cast<uint8_t>(static_cast<int8_t>(std::round(v[b + j] * id))));
    }
  }
  return n;
}

std::string load_error(const std::string& path) {
  try {
    Model::load(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), ErrorCategory::model) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "loading " << path << " did not fail";
  return {};
}

const std::vector<int32_t> kTokens = {1, 450, 4996, 17354, 1701, 432};

std::vector<float> logits_of(const std::string& path, Numerics numerics = Numerics::Reference) {
  ContextOptions o;
  o.n_ctx = 16;
  o.numerics = numerics;
  Context ctx(Model::load(path), o);
  ctx.eval(kTokens, true);
  return {ctx.logits().begin(), ctx.logits().end()};
}

TEST(ForwardWeights, MissingOrMistypedTensorsNameTheTensor) {
  const auto missing = write_variant(
      "missing-up", [](const gguf::TensorInfo& t, bool& drop) -> std::optional<NewTensor> {
        drop = t.name == "blk.2.ffn_up.weight";
        return std::nullopt;
      });
  EXPECT_NE(load_error(missing).find("blk.2.ffn_up.weight"), std::string::npos);

  const auto f16_norm =
      write_variant("f16-norm", [](const gguf::TensorInfo& t, bool&) -> std::optional<NewTensor> {
        if (t.name != "blk.1.ffn_sub_norm.weight") return std::nullopt;
        return NewTensor{
            std::string(t.name), TensorType::F16, {t.ne[0]}, std::vector<uint8_t>(t.ne[0] * 2, 0)};
      });
  EXPECT_NE(load_error(f16_norm).find("blk.1.ffn_sub_norm.weight"), std::string::npos);

  const auto bad_scale = write_variant(
      "bad-scale",
      [](const gguf::TensorInfo&, bool&) -> std::optional<NewTensor> { return std::nullopt; },
      {NewTensor{"blk.0.attn_q.scale", TensorType::F32, {2}, std::vector<uint8_t>(8, 0)}});
  EXPECT_NE(load_error(bad_scale).find("blk.0.attn_q.scale"), std::string::npos);
}

TEST(ForwardWeights, ScaleTensorMultipliesTheProjection) {
  const float two = 2.0f;
  std::vector<uint8_t> bytes(4);
  std::memcpy(bytes.data(), &two, 4);
  const auto scaled = write_variant(
      "scaled-q",
      [](const gguf::TensorInfo&, bool&) -> std::optional<NewTensor> { return std::nullopt; },
      {NewTensor{"blk.0.attn_q.scale", TensorType::F32, {1}, bytes}});
  auto capture_q = [](const std::string& path) {
    ContextOptions o;
    o.n_ctx = 16;
    Context ctx(Model::load(path), o);
    std::vector<float> q;
    ctx.set_stage_observer([&](const StageTensor& t) {
      if (t.layer == 0 && t.stage == Stage::q_proj) q.assign(t.data, t.data + t.rows * t.cols);
    });
    ctx.eval(kTokens, false);
    return q;
  };
  const auto plain = capture_q(test::fixture("tiny-bitnet-tq2_0.gguf"));
  const auto doubled = capture_q(scaled);
  ASSERT_EQ(plain.size(), doubled.size());
  ASSERT_FALSE(plain.empty());
  for (size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(doubled[i], 2.0f * plain[i]) << i;
}

TEST(ForwardWeights, UntiedOutputEqualToTheEmbeddingGivesTheSameLogits) {
  const auto src = gguf::GgufFile::open(test::fixture("tiny-bitnet-tq2_0.gguf"));
  const auto& embd = src.tensor("token_embd.weight");
  const auto* p = reinterpret_cast<const uint8_t*>(embd.data);
  const auto untied = write_variant(
      "untied",
      [](const gguf::TensorInfo&, bool&) -> std::optional<NewTensor> { return std::nullopt; },
      {NewTensor{"output.weight",
                 embd.type,
                 {embd.ne[0], embd.ne[1]},
                 std::vector<uint8_t>(p, p + embd.nbytes)}});
  ASSERT_FALSE(Model::load(untied)->config().tied_output);
  const auto a = logits_of(test::fixture("tiny-bitnet-tq2_0.gguf"));
  const auto b = logits_of(untied);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(ForwardWeights, EmbeddingTypesF32BF16Q8_0) {
  const auto base = logits_of(test::fixture("tiny-bitnet-tq2_0.gguf"), Numerics::Fast);
  const int64_t n_vocab = 32000;
  for (auto type : {TensorType::F32, TensorType::BF16, TensorType::Q8_0}) {
    const auto path =
        write_variant("embd-" + std::string(to_string(type)),
                      [type](const gguf::TensorInfo& t, bool&) -> std::optional<NewTensor> {
                        if (t.name != "token_embd.weight") return std::nullopt;
                        return as_type(t, type);
                      });
    const auto model = Model::load(path);
    ASSERT_EQ(model->config().embd_type, type);
    const auto got = logits_of(path, Numerics::Fast);
    const auto s = test::compare_logits(got.data(), base.data(),
                                        static_cast<int64_t>(kTokens.size()), n_vocab);
    s.print(std::string("embedding ") + std::string(to_string(type)) + " vs F16");
    // F32 holds the F16 values exactly: the same model. BF16 and Q8_0 perturb the weights.
    EXPECT_GE(s.min_cos, type == TensorType::F32 ? 0.99999 : 0.98);
  }
}

}  // namespace
}  // namespace bitnet
