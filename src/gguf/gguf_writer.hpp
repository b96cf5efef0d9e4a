// GGUF v3 writer: metadata key/values and tensors, streamed to a file. Used by `bitnet synth` and
// (later) the converter. Files it writes load in llama.cpp, bitnet.cpp and the `gguf` Python package.
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
  void add_u32(std::string_view key, uint32_t v);
  void add_i32(std::string_view key, int32_t v);
  void add_u64(std::string_view key, uint64_t v);
  void add_f32(std::string_view key, float v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  void add_string_array(std::string_view key, const std::vector<std::string>& v);
  void add_f32_array(std::string_view key, const std::vector<float>& v);
  void add_i32_array(std::string_view key, const std::vector<int32_t>& v);
  // Copies one key (any type, nested arrays included) from another file.
  void copy_key(std::string_view key, const Value& value);

  // A tensor: ne[0] is the row length. `data` must hold tensor_nbytes(type, ...) bytes and is copied.
  void add_tensor(std::string_view name, TensorType type, const std::vector<int64_t>& ne,
                  std::vector<uint8_t> data);
  // Declares a tensor whose bytes are produced later by `fill` while writing (for large models:
  // nothing is held in memory). `fill(dst)` receives exactly nbytes bytes to write.
  using FillFn = std::function<void(uint8_t* dst, int64_t nbytes)>;
  void add_tensor_lazy(std::string_view name, TensorType type, const std::vector<int64_t>& ne, FillFn fill);

  // Writes everything; throws bitnet::Error (io) naming the path on failure. Writes to
  // path + ".tmp" and renames, so a failed write never leaves a truncated model behind.
  void write(const std::string& path) const;

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
  std::vector<uint8_t> kv_bytes_;  // serialized metadata
  uint64_t kv_count_ = 0;
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
};

}  // namespace bitnet::gguf
