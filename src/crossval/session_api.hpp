// The session ABI (include/bitnet/crossval_session.h) as a table of function pointers: the ones
// this library itself exports, or the ones of any shared library exposing crossval_bitnet_*
// (libbitnet_reference.so, a third engine), looked up by name. Used by the library backend of
// crossval-per-token and by the Python package's bitnet.Session.
#pragma once

#include <string>

#include "bitnet/crossval_session.h"

namespace bitnet::crossval {

struct SessionApi {
  decltype(&crossval_bitnet_open_ex) open_ex = nullptr;
  decltype(&crossval_bitnet_close) close = nullptr;
  decltype(&crossval_bitnet_tokenize_with) tokenize_with = nullptr;
  decltype(&crossval_bitnet_prefill) prefill = nullptr;
  decltype(&crossval_bitnet_eval_last) eval_last = nullptr;
  decltype(&crossval_bitnet_eval_all) eval_all = nullptr;
  decltype(&crossval_bitnet_vocab_size) vocab_size = nullptr;
  decltype(&crossval_bitnet_context_size) context_size = nullptr;
  // Extensions: may be null for a library without them.
  decltype(&crossval_bitnet_reset) reset = nullptr;
  decltype(&crossval_bitnet_n_past) n_past = nullptr;

  // This library's own implementation.
  static SessionApi builtin();
  // dlopen(RTLD_NOW | RTLD_LOCAL) of `library_path` (kept loaded for the life of the process: an
  // implementation may leave thread pools or atexit handlers behind). Throws Error(io) when it
  // cannot be loaded, Error(config) naming the first required function it does not export.
  static SessionApi load(const std::string& library_path);
};

}  // namespace bitnet::crossval
