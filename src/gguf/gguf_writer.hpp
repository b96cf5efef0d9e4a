// GGUF v3 writer: metadata key/values and tensors, streamed to a file. Used by `bitnet synth` and
// (later) the converter. Files it writes load in llama.cpp, bitnet.cpp and the `gguf` Python
// package.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gguf/gguf.hpp"
#include "quant/tensor_type.hpp"

namespace bitnet::gguf {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = kDefaultAlignment);

  // Metadata, written in insertion order. Adding a key twice throws.
  void add_u8(std::string_view key, uint8_t v);
  void add_i8(std::string_view key, int8_t v);
  void add_u16(std::string_view key, uint16_t v);
  void add_i16(std::string_view key, int16_t v);
  void add_u32(std::string_view key, uint32_t v);
  void add_i32(std::string_view key, int32_t v);
  void add_u64(std::string_view key, uint64_t v);
  void add_i64(std::string_view key, int64_t v);
  void add_f32(std::string_view key, float v);
  void add_f64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  void add_string_array(std::string_view key, const std::vector<std::string>& v);
  void add_f32_array(std::string_view key, const std::vector<float>& v);
  void add_i32_array(std::string_view key, const std::vector<int32_t>& v);
  // Writes one key of any type, nested arrays included (e.g. copied from another file). The value
  // is serialized at once, so its storage need not outlive the call.
  void copy_key(std::string_view key, const Value& value);
  bool has_key(std::string_view key) const;

  // A tensor: ne[0] is the row length. `data` must hold tensor_nbytes(type, ...) bytes and is
  // copied.
  void add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& ne,
                  std::vector<uint8_t> data);
  // Declares a tensor whose bytes are produced later by `fill` while writing, in chunks, so a large
  // model never sits in memory. `fill(dst, offset, nbytes)` is called for consecutive ranges
  // [offset, offset + nbytes) that cover the tensor's bytes exactly once, in order; every range
  // starts on a row boundary (a multiple of row_nbytes) and all but the last end on one (the last
  // also holds any trailer, e.g. the I2_S scale).
  using FillFn = std::function<void(uint8_t* dst, int64_t offset, int64_t nbytes)>;
  void add_tensor_lazy(std::string_view name, TensorType type, const std::vector<int64_t>& ne,
                       FillFn fill);

  // Called after each chunk written: (bytes written so far, total bytes of the file).
  using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

  // Writes everything; throws bitnet::Error (io) naming the path on failure. Writes to
  // path + ".tmp" and renames, so a failed write never leaves a truncated model behind.
  void write(const std::string& path, const ProgressFn& progress = nullptr) const;

  // Largest chunk handed to a FillFn (it is always at least one row). Default 16 MiB.
  void set_chunk_bytes(int64_t bytes) { chunk_bytes_ = bytes; }

 private:
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<int64_t> ne;
    int64_t nbytes;
    std::vector<uint8_t> data;
    FillFn fill;
  };
  void check_new_key(std::string_view key);

  uint32_t alignment_;
  int64_t chunk_bytes_ = int64_t{16} << 20;
  std::vector<uint8_t> kv_bytes_;  // serialized metadata
  uint64_t kv_count_ = 0;
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
};

}  // namespace bitnet::gguf
