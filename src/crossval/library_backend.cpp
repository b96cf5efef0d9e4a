// A side behind the session ABI (include/bitnet/crossval_session.h) in any shared library:
// libbitnet.so itself, the reference adapter libbitnet_reference.so, or a third engine. Loaded
// with dlopen(RTLD_LOCAL) so two libraries exporting the same names can be compared.
#include <array>
#include <filesystem>
#include <string_view>

#include "bitnet/error.hpp"
#include "crossval/backend.hpp"
#include "crossval/session_api.hpp"

namespace bitnet::crossval {
namespace {

constexpr int32_t kErrLen = 1024;

class LibraryBackend final : public Backend {
 public:
  LibraryBackend(const std::string& library_path, const std::string& model_path, int32_t n_ctx,
                 int n_gpu_layers, int n_threads)
      : name_("lib:" + library_path), path_(library_path), model_path_(model_path) {
    api_ = SessionApi::load(library_path);
    try {
      std::array<char, kErrLen> err{};
      const int rc = api_.open_ex(model_path.c_str(), n_ctx, n_gpu_layers, n_threads, &handle_,
                                  err.data(), kErrLen);
      if (rc != 0) {
        throw Error(
            rc == -1 ? ErrorCategory::io : ErrorCategory::model,
            name_ + ": open " + model_path + " failed (" + std::to_string(rc) + "): " + err.data());
      }
      check(api_.vocab_size(handle_, &vocab_), "vocab_size", err.data());
    } catch (...) {
      if (handle_) api_.close(handle_);
      throw;
    }
  }

  ~LibraryBackend() override {
    if (handle_) api_.close(handle_);
    // The library stays mapped: an implementation may have registered atexit handlers or thread
    // locals (OpenMP pools) that must not outlive their code.
  }

  const std::string& name() const override { return name_; }
  int32_t vocab() const override { return vocab_; }

  std::vector<int32_t> tokenize(const std::string& text, bool add_bos) override {
    std::array<char, kErrLen> err{};
    std::vector<int32_t> out(text.size() + 16);
    int32_t n = 0;
    int rc = api_.tokenize_with(handle_, text.c_str(), add_bos ? 1 : 0, out.data(),
                                static_cast<int32_t>(out.size()), &n, err.data(), kErrLen);
    if (rc == -3) {  // buffer too small: n is the count needed
      out.resize(static_cast<size_t>(n));
      rc = api_.tokenize_with(handle_, text.c_str(), add_bos ? 1 : 0, out.data(), n, &n, err.data(),
                              kErrLen);
    }
    check(rc, "tokenize_with", err.data());
    out.resize(static_cast<size_t>(n));
    return out;
  }

  TokenizeSettings tokenize_settings(bool add_bos) const override {
    return {add_bos, true, path_ + " (its own tokenizer for " + model_path_ + ")"};
  }

  void eval_all(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    std::array<char, kErrLen> err{};
    const auto n = static_cast<int32_t>(tokens.size());
    logits.resize(tokens.size() * static_cast<size_t>(vocab_));
    int32_t rows = 0, cols = 0;
    check(api_.eval_all(handle_, tokens.data(), n, logits.data(), n, &rows, &cols, err.data(),
                        kErrLen),
          "eval_all", err.data());
    if (rows != n || cols != vocab_) {
      throw Error(ErrorCategory::internal, name_ + ": eval_all returned [" + std::to_string(rows) +
                                               "][" + std::to_string(cols) + "], expected [" +
                                               std::to_string(n) + "][" + std::to_string(vocab_) +
                                               "]");
    }
  }

  bool eval_last(std::span<const int32_t> tokens, std::vector<float>& logits) override {
    std::array<char, kErrLen> err{};
    logits.resize(static_cast<size_t>(vocab_));
    check(api_.eval_last(handle_, tokens.data(), static_cast<int32_t>(tokens.size()), logits.data(),
                         vocab_, err.data(), kErrLen),
          "eval_last", err.data());
    return true;
  }

  // Without the reset extension there is nothing to do: eval_all clears the cache itself.
  void reset() override {
    if (api_.reset) check(api_.reset(handle_), "reset", "");
  }

  std::optional<std::string> token_piece(int32_t /*id*/) const override { return std::nullopt; }

 private:
  void check(int rc, const char* fn, const char* err) const {
    if (rc != 0) {
      throw Error(ErrorCategory::internal, name_ + ": crossval_bitnet_" + fn + " returned " +
                                               std::to_string(rc) + (*err ? ": " : "") + err);
    }
  }

  std::string name_;
  std::string path_;
  std::string model_path_;
  void* handle_ = nullptr;
  SessionApi api_;
  int32_t vocab_ = 0;
};

std::filesystem::path executable_dir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path();
}

}  // namespace

std::unique_ptr<Backend> open_library(const std::string& library_path,
                                      const std::string& model_path, int32_t n_ctx,
                                      int n_gpu_layers, int n_threads) {
  return std::make_unique<LibraryBackend>(library_path, model_path, n_ctx, n_gpu_layers, n_threads);
}

std::string find_reference_library() {
  const auto dir = executable_dir();
  const std::array<std::filesystem::path, 2> candidates = {
      dir.parent_path() / "lib" / "libbitnet_reference.so", dir / "libbitnet_reference.so"};
  std::string looked;
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c)) return c.string();
    looked += (looked.empty() ? "" : ", ") + c.string();
  }
  throw Error(ErrorCategory::config,
              "--b reference: libbitnet_reference.so not found (looked in " + looked +
                  "); it is built only when CMake is configured with -DBITNET_CPP_DIR=<a "
                  "bitnet.cpp or llama.cpp checkout>. Use --b lib:PATH.so or --b golden:FILE.json "
                  "instead.");
}

}  // namespace bitnet::crossval
