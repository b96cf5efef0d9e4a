// The reference adapter (libbitnet_reference.so, reference/) through dlopen: its error codes, its
// logits against the goldens of the reference it was built over, and our engine against it through
// the same ABI. Which reference that is, the adapter says (crossval_reference_kind(), from the
// loaded ggml): bitnet.cpp -> golden/ (I2_S), upstream llama.cpp -> golden-upstream/ (TQ1_0/TQ2_0);
// the tests of the other one skip with the reason. Everything skips when the adapter was not built
// (configure with -DBITNET_CPP_DIR=...).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bitnet/crossval_session.h"
#include "forward_test_support.hpp"

namespace bitnet::test {
namespace {

// The ABI as a table of function pointers, filled from a dlopen'ed library or from ours.
struct SessionAbi {
  decltype(&crossval_bitnet_open) open;
  decltype(&crossval_bitnet_close) close;
  decltype(&crossval_bitnet_tokenize_with) tokenize_with;
  decltype(&crossval_bitnet_prefill) prefill;
  decltype(&crossval_bitnet_eval_last) eval_last;
  decltype(&crossval_bitnet_eval_all) eval_all;
  decltype(&crossval_bitnet_vocab_size) vocab_size;
  decltype(&crossval_bitnet_context_size) context_size;
  decltype(&crossval_bitnet_reset) reset;
  decltype(&crossval_bitnet_n_past) n_past;
};

SessionAbi native_abi() {
  return {crossval_bitnet_open,       crossval_bitnet_close,        crossval_bitnet_tokenize_with,
          crossval_bitnet_prefill,    crossval_bitnet_eval_last,    crossval_bitnet_eval_all,
          crossval_bitnet_vocab_size, crossval_bitnet_context_size, crossval_bitnet_reset,
          crossval_bitnet_n_past};
}

// What each reference's goldens are: made by that reference, on a model only it (of the two) loads.
struct ReferenceGoldens {
  const char* kind;   // crossval_reference_kind()
  const char* dir;    // under the fixtures
  const char* model;  // its model, for the tests that need one
};
constexpr ReferenceGoldens kBitnetCpp{"bitnet.cpp", "golden", "tiny-b158-i2s.gguf"};
constexpr ReferenceGoldens kLlamaCpp{"llama.cpp", "golden-upstream", "tiny-bitnet-tq2_0.gguf"};

template <typename F>
void bind(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  ASSERT_NE(fn, nullptr) << name << " missing from the reference adapter";
}

class ReferenceAdapter : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = BITNET_REFERENCE_LIB;
    if (path.empty())
      GTEST_SKIP()
          << "reference adapter not built: configure with -DBITNET_CPP_DIR=<a built bitnet.cpp or "
             "llama.cpp tree> (see docs/c-api.md)";
    lib_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << dlerror();
    bind(lib_, "crossval_bitnet_open", ref_.open);
    bind(lib_, "crossval_bitnet_close", ref_.close);
    bind(lib_, "crossval_bitnet_tokenize_with", ref_.tokenize_with);
    bind(lib_, "crossval_bitnet_prefill", ref_.prefill);
    bind(lib_, "crossval_bitnet_eval_last", ref_.eval_last);
    bind(lib_, "crossval_bitnet_eval_all", ref_.eval_all);
    bind(lib_, "crossval_bitnet_vocab_size", ref_.vocab_size);
    bind(lib_, "crossval_bitnet_context_size", ref_.context_size);
    bind(lib_, "crossval_bitnet_reset", ref_.reset);
    bind(lib_, "crossval_bitnet_n_past", ref_.n_past);
    const char* (*kind)() = nullptr;
    bind(lib_, "crossval_reference_kind", kind);
    if (HasFatalFailure()) return;
    kind_ = kind();
    ASSERT_TRUE(kind_ == kBitnetCpp.kind || kind_ == kLlamaCpp.kind)
        << "crossval_reference_kind() returned '" << kind_ << "'";
    goldens_ = kind_ == kBitnetCpp.kind ? &kBitnetCpp : &kLlamaCpp;
  }
  // Skips the test unless the loaded reference is `want` (its goldens are not this one's).
  void skip_unless(const ReferenceGoldens& want) {
    if (kind_ == want.kind) return;
    GTEST_SKIP() << "the adapter runs over " << kind_ << " (crossval_reference_kind()); these are "
                 << want.kind << "'s goldens (fixtures/" << want.dir << "), checked when "
                 << "BITNET_CPP_DIR is a " << want.kind << " tree";
  }
  void TearDown() override {
    if (lib_ != nullptr) dlclose(lib_);
  }
  void* lib_ = nullptr;
  SessionAbi ref_{};
  std::string kind_;
  const ReferenceGoldens* goldens_ = nullptr;
};

std::vector<float> eval_all(const SessionAbi& abi, void* h, const std::vector<int32_t>& tokens,
                            int32_t vocab) {
  std::vector<float> out(tokens.size() * static_cast<size_t>(vocab));
  int32_t rows = 0, cols = 0;
  char err[512] = {};
  const auto n = static_cast<int32_t>(tokens.size());
  EXPECT_EQ(abi.eval_all(h, tokens.data(), n, out.data(), n, &rows, &cols, err, sizeof err), 0)
      << err;
  return out;
}

TEST_F(ReferenceAdapter, KindIsTheLoadedLibrary) {
  // Both answers are possible; which one must agree with what the library can load.
  std::printf("  reference: %s, goldens fixtures/%s\n", kind_.c_str(), goldens_->dir);
  char err[512] = {};
  void* h = nullptr;
  const std::string i2s = fixture(kBitnetCpp.model);
  const int rc = ref_.open(i2s.c_str(), 64, &h, err, sizeof err);
  if (kind_ == kBitnetCpp.kind) {
    EXPECT_EQ(rc, 0) << "bitnet.cpp reference cannot load its I2_S model: " << err;
  } else {
    EXPECT_EQ(rc, -2) << "a llama.cpp reference loaded an I2_S model: is it bitnet.cpp?";
  }
  if (rc == 0) ref_.close(h);
}

TEST_F(ReferenceAdapter, ErrorCodes) {
  char err[256] = {};
  void* h = nullptr;
  const std::string model = fixture(goldens_->model);
  EXPECT_EQ(ref_.open(model.c_str(), 0, &h, err, sizeof err), -4);
  EXPECT_EQ(ref_.open(model.c_str(), 64, nullptr, err, sizeof err), -4);
  EXPECT_EQ(ref_.open("/nonexistent.gguf", 64, &h, err, sizeof err), -1);
  const auto bad = scratch_dir() / "ref_not_a_model.gguf";
  { std::ofstream(bad) << "not a gguf file at all"; }
  EXPECT_EQ(ref_.open(bad.c_str(), 64, &h, err, 1), -2);
  EXPECT_EQ(err[0], '\0');
  ASSERT_EQ(ref_.open(model.c_str(), 16, &h, err, sizeof err), 0) << err;
  int32_t vocab = 0, ctx = 0, n = 0, n_past = 0, rows = 0, cols = 0;
  ASSERT_EQ(ref_.vocab_size(h, &vocab), 0);
  ASSERT_EQ(ref_.context_size(h, &ctx), 0);
  EXPECT_EQ(ctx, 16);
  int32_t toks[32];
  EXPECT_EQ(ref_.tokenize_with(h, "Hello world, again", 1, toks, 0, &n, err, sizeof err), -3);
  const int32_t need = n;
  EXPECT_EQ(ref_.tokenize_with(h, "Hello world, again", 1, toks, need - 1, &n, err, sizeof err),
            -3);
  EXPECT_EQ(n, need);
  EXPECT_EQ(ref_.tokenize_with(h, "Hello world, again", 1, toks, need, &n, err, sizeof err), 0);
  EXPECT_EQ(ref_.tokenize_with(h, nullptr, 1, toks, 32, &n, err, sizeof err), -2);
  std::vector<float> logits(static_cast<size_t>(vocab) * 17);
  EXPECT_EQ(ref_.prefill(h, toks, 0, err, sizeof err), -2);
  EXPECT_EQ(ref_.prefill(h, toks, 17, err, sizeof err), -3);
  EXPECT_EQ(ref_.prefill(h, toks, need, err, sizeof err), 0) << err;
  EXPECT_EQ(ref_.eval_last(h, toks, 1, logits.data(), vocab + 1, err, sizeof err), -3);
  EXPECT_EQ(ref_.eval_last(h, toks, 16 - need + 1, logits.data(), vocab, err, sizeof err), -5);
  EXPECT_EQ(ref_.eval_last(h, toks, 1, logits.data(), vocab, err, sizeof err), 0) << err;
  ASSERT_EQ(ref_.n_past(h, &n_past), 0);
  EXPECT_EQ(n_past, need + 1);
  EXPECT_EQ(ref_.eval_all(h, toks, need, logits.data(), need - 1, &rows, &cols, err, sizeof err),
            -3);
  EXPECT_EQ(ref_.eval_all(h, toks, 17, logits.data(), 17, &rows, &cols, err, sizeof err), -5);
  EXPECT_EQ(ref_.eval_all(h, toks, need, logits.data(), need, &rows, &cols, err, sizeof err), 0)
      << err;
  ASSERT_EQ(ref_.n_past(h, &n_past), 0);
  EXPECT_EQ(n_past, need);  // eval_all cleared the cache first
  EXPECT_EQ(ref_.reset(h), 0);
  EXPECT_EQ(ref_.close(h), 0);
  EXPECT_EQ(ref_.close(h), -1);
  EXPECT_EQ(ref_.vocab_size(h, &vocab), -1);
  EXPECT_EQ(ref_.eval_last(h, toks, 1, logits.data(), vocab, err, sizeof err), -1);
  EXPECT_EQ(ref_.close(nullptr), -1);
}

// Our engine and the reference on the same model, same tokens, same ABI; and the reference against
// the goldens it made (the adapter must reproduce them: same settings as the dump).
void expect_native_matches_reference(const SessionAbi& ref, const ReferenceGoldens& g,
                                     const std::string& prefix) {
  const auto cases = load_golden_cases(g.dir, prefix);
  ASSERT_FALSE(cases.empty()) << "no " << prefix << " cases in fixtures/" << g.dir;
  const SessionAbi ours = native_abi();
  char err[512] = {};
  void *hr = nullptr, *hn = nullptr;
  ASSERT_EQ(ref.open(cases.front().model.c_str(), 256, &hr, err, sizeof err), 0) << err;
  ASSERT_EQ(ours.open(cases.front().model.c_str(), 256, &hn, err, sizeof err), 0) << err;
  int32_t vocab = 0, vocab_ref = 0;
  ours.vocab_size(hn, &vocab);
  ref.vocab_size(hr, &vocab_ref);
  ASSERT_EQ(vocab, vocab_ref);
  for (const auto& c : cases) {
    std::ifstream in(fixtures_dir() / g.dir / (c.name + ".json"));
    const auto prompt = nlohmann::json::parse(in).at("prompt").get<std::string>();
    std::vector<int32_t> tn(512), tr(512);
    int32_t nn = 0, nr = 0;
    ASSERT_EQ(ours.tokenize_with(hn, prompt.c_str(), 1, tn.data(), 512, &nn, err, sizeof err), 0)
        << err;
    ASSERT_EQ(ref.tokenize_with(hr, prompt.c_str(), 1, tr.data(), 512, &nr, err, sizeof err), 0)
        << err;
    tn.resize(static_cast<size_t>(nn));
    tr.resize(static_cast<size_t>(nr));
    EXPECT_EQ(tn, tr) << c.name;
    EXPECT_EQ(tr, c.tokens) << c.name;

    const auto a = eval_all(ours, hn, c.tokens, vocab);
    const auto b = eval_all(ref, hr, c.tokens, vocab);
    const auto rows = static_cast<int64_t>(c.tokens.size());
    const auto vs_ref = compare_logits(a.data(), b.data(), rows, vocab);
    vs_ref.print(c.name + " ours vs reference");
    EXPECT_TRUE(vs_ref.passes()) << c.name << ": our engine vs the reference";
    const auto ref_vs_golden = compare_logits(b.data(), c.logits.data(), rows, vocab);
    ref_vs_golden.print(c.name + " reference vs golden");
    EXPECT_TRUE(ref_vs_golden.passes()) << c.name << ": the reference vs its goldens";
  }
  ours.close(hn);
  ref.close(hr);
}

TEST_F(ReferenceAdapter, NativeMatchesReferenceI2_S) {
  skip_unless(kBitnetCpp);
  if (IsSkipped()) return;
  expect_native_matches_reference(ref_, kBitnetCpp, "tiny-b158-i2s");
}
TEST_F(ReferenceAdapter, NativeMatchesReferenceTQ2_0) {
  skip_unless(kLlamaCpp);
  if (IsSkipped()) return;
  expect_native_matches_reference(ref_, kLlamaCpp, "tiny-bitnet-tq2_0");
}
TEST_F(ReferenceAdapter, NativeMatchesReferenceTQ1_0) {
  skip_unless(kLlamaCpp);
  if (IsSkipped()) return;
  expect_native_matches_reference(ref_, kLlamaCpp, "tiny-bitnet-tq1_0");
}

}  // namespace
}  // namespace bitnet::test
