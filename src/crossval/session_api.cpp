#include "crossval/session_api.hpp"

#include <dlfcn.h>

#include "bitnet/error.hpp"

namespace bitnet::crossval {
namespace {

template <typename Fn>
void bind_symbol(void* lib, const std::string& path, const char* symbol, Fn& out, bool required) {
  void* p = dlsym(lib, symbol);
  if (!p && required) {
    throw Error(ErrorCategory::config,
                path + ": does not export " + symbol + " (not a crossval session ABI library)");
  }
  out = reinterpret_cast<Fn>(p);
}

}  // namespace

SessionApi SessionApi::builtin() {
  SessionApi api;
  api.open_ex = &crossval_bitnet_open_ex;
  api.close = &crossval_bitnet_close;
  api.tokenize_with = &crossval_bitnet_tokenize_with;
  api.prefill = &crossval_bitnet_prefill;
  api.eval_last = &crossval_bitnet_eval_last;
  api.eval_all = &crossval_bitnet_eval_all;
  api.vocab_size = &crossval_bitnet_vocab_size;
  api.context_size = &crossval_bitnet_context_size;
  api.reset = &crossval_bitnet_reset;
  api.n_past = &crossval_bitnet_n_past;
  return api;
}

SessionApi SessionApi::load(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw Error(ErrorCategory::io, path + ": cannot load: " + (why ? why : "dlopen failed"));
  }
  SessionApi api;
  try {
    bind_symbol(lib, path, "crossval_bitnet_open_ex", api.open_ex, true);
    bind_symbol(lib, path, "crossval_bitnet_close", api.close, true);
    bind_symbol(lib, path, "crossval_bitnet_tokenize_with", api.tokenize_with, true);
    bind_symbol(lib, path, "crossval_bitnet_prefill", api.prefill, true);
    bind_symbol(lib, path, "crossval_bitnet_eval_last", api.eval_last, true);
    bind_symbol(lib, path, "crossval_bitnet_eval_all", api.eval_all, true);
    bind_symbol(lib, path, "crossval_bitnet_vocab_size", api.vocab_size, true);
    bind_symbol(lib, path, "crossval_bitnet_context_size", api.context_size, true);
    bind_symbol(lib, path, "crossval_bitnet_reset", api.reset, false);
    bind_symbol(lib, path, "crossval_bitnet_n_past", api.n_past, false);
  } catch (...) {
    dlclose(lib);
    throw;
  }
  return api;
}

}  // namespace bitnet::crossval
