// The set of live handles behind a C ABI: a handle the library did not hand out, or one already
// closed, is recognised and refused instead of being dereferenced. Header-only so that the
// reference adapter (reference/, a separate library) uses the same code.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_set>

namespace bitnet::capi {

template <typename T>
class HandleRegistry {
 public:
  void add(T* object) {
    std::lock_guard lock(mutex_);
    live_.insert(object);
  }
  // The object when `handle` is live, else nullptr. Never throws (a failed lock counts as not
  // live).
  T* find(void* handle) noexcept {
    if (handle == nullptr) return nullptr;
    try {
      std::lock_guard lock(mutex_);
      return live_.count(static_cast<T*>(handle)) != 0 ? static_cast<T*>(handle) : nullptr;
    } catch (...) {
      return nullptr;
    }
  }
  // Removes a live handle and returns ownership of it; nullptr when it was not live.
  std::unique_ptr<T> take(void* handle) {
    std::lock_guard lock(mutex_);
    auto it = live_.find(static_cast<T*>(handle));
    if (it == live_.end()) return nullptr;
    std::unique_ptr<T> owned(*it);
    live_.erase(it);
    return owned;
  }

 private:
  std::mutex mutex_;
  std::unordered_set<T*> live_;
};

}  // namespace bitnet::capi
