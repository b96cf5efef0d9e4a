// Hugging Face safetensors checkpoints, memory-mapped and validated as strictly as the GGUF reader:
// a single `model.safetensors` or a sharded one (`model.safetensors.index.json` naming the shard of
// every tensor). Nothing is copied; a tensor is a view into its file's mapping.
//
// File layout: u64 (little-endian) header length N, N bytes of JSON
// `{"NAME": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}}`,
// then the data; offsets are relative to the first byte after the header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/mapped_file.hpp"

namespace bitnet::convert {

// The dtypes the BitNet checkpoints use. Other safetensors dtypes are refused by name.
enum class StDtype { BF16, F16, F32, U8, I8 };

std::string_view to_string(StDtype dtype);
int64_t dtype_size(StDtype dtype);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  std::vector<int64_t> shape;  // as in the file: shape[0] is the slowest-varying dimension
  int64_t n_elements = 0;
  const std::byte* data = nullptr;
  uint64_t nbytes = 0;
  uint64_t file_offset = 0;  // absolute offset of the data in its file
  const std::string* file = nullptr;
  const MappedFile* mapping = nullptr;  // null for a parsed memory image

  // Drops the pages of values [begin, begin + n) from this process's resident memory (they were
  // read and will not be again); the data stays readable. No-op for memory images.
  void release(int64_t begin, int64_t n) const;

  std::string shape_string() const;  // "[768, 256]"
  // Value i converted to float (BF16/F16/F32 exactly; U8/I8 as integers).
  float value_f32(int64_t i) const;
  // Values [begin, begin + n) as floats.
  void to_f32(int64_t begin, int64_t n, float* out) const;
};

// One .safetensors file. Throws bitnet::Error (model; io if it cannot be opened) whose message
// names the file, the tensor and the byte offset when the header or a tensor range is wrong.
class SafetensorsFile {
 public:
  static SafetensorsFile open(const std::string& path);
  // Validates a memory image (for tests and the fuzzer); `bytes` must outlive the result.
  static SafetensorsFile parse(std::span<const std::byte> bytes, const std::string& name);

  const std::string& path() const { return *path_; }
  const std::vector<StTensor>& tensors() const { return tensors_; }  // in name order
  const StTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  void validate(std::span<const std::byte> bytes);

  std::unique_ptr<std::string> path_;    // stable address: tensors point at it
  std::unique_ptr<MappedFile> mapping_;  // stable address: tensors point at it
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint folder's weights: `model.safetensors`, or the shards listed by
// `model.safetensors.index.json` (every tensor of the weight_map must be in the shard it names,
// and no tensor may appear in two shards).
class Checkpoint {
 public:
  static Checkpoint open_dir(const std::string& dir);

  const StTensor* find(const std::string& name) const;
  // Throws Error(model) naming the checkpoint and the tensor when it is absent.
  const StTensor& require(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  const std::string& description() const { return description_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*> tensors_;
  std::string description_;
};

}  // namespace bitnet::convert
