// A read-only memory mapping of a whole file (RAII). The model weights are used in place from it.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace bitnet {

class MappedFile {
 public:
  // Throws bitnet::Error (io) naming the path on failure. An empty file maps to an empty span.
  static MappedFile open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

  // Tells the kernel that a range will not be read again (after repacking weights), so the
  // page cache can drop it; the mapping itself stays valid.
  void advise_dont_need(const std::byte* begin, size_t length) const;

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace bitnet
