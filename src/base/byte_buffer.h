// ByteBuffer: an owning byte array whose bytes start uninitialised. The read path (a segment
// read, a Fetch response's record sets) fills whole buffers straight from a file, so the zero
// fill of a `Bytes` of the same size would be wasted work on every consumed byte. Otherwise it
// behaves like a fixed-size `Bytes`: copyable, movable, comparable, and it converts to ByteView
// and MutableByteView (it is a contiguous range). A plain value: no threads, no durability.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>

#include "base/bytes.h"
#include "base/check.h"

namespace wharf {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  // `size` bytes, not initialised: the caller overwrites all of them before reading any.
  explicit ByteBuffer(std::size_t size) : data_(allocate(size)), size_(size) {}
  // Copies. Implicit, so that a `Bytes` or a view can be given wherever a ByteBuffer is wanted.
  ByteBuffer(ByteView bytes) : ByteBuffer(bytes.size()) { copy_from(bytes); }
  ByteBuffer(const Bytes& bytes) : ByteBuffer(ByteView(bytes)) {}

  ByteBuffer(const ByteBuffer& other) : ByteBuffer(ByteView(other)) {}
  ByteBuffer& operator=(const ByteBuffer& other) {
    if (this != &other) *this = ByteBuffer(other);
    return *this;
  }
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  std::byte* data() { return data_.get(); }
  const std::byte* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::byte* begin() { return data(); }
  std::byte* end() { return data() + size_; }
  const std::byte* begin() const { return data(); }
  const std::byte* end() const { return data() + size_; }
  std::byte& operator[](std::size_t i) {
    WHARF_DCHECK(i < size_);
    return data_[i];
  }
  const std::byte& operator[](std::size_t i) const {
    WHARF_DCHECK(i < size_);
    return data_[i];
  }

  // Shrinking keeps the allocation (trimming a read to whole batches is free); growing moves
  // the bytes to a new allocation whose added bytes are uninitialised.
  void resize(std::size_t size) {
    if (size > size_) {
      auto grown = allocate(size);
      if (size_ > 0) std::memcpy(grown.get(), data_.get(), size_);
      data_ = std::move(grown);
    }
    size_ = size;
  }
  void clear() { size_ = 0; }

  friend bool operator==(const ByteBuffer& a, const ByteBuffer& b) {
    return std::ranges::equal(ByteView(a), ByteView(b));
  }

 private:
  // `new std::byte[n]` default-initialises: no zero fill (`new std::byte[n]()` would fill).
  static std::unique_ptr<std::byte[]> allocate(std::size_t size) {
    return size == 0 ? nullptr : std::unique_ptr<std::byte[]>(new std::byte[size]);
  }
  void copy_from(ByteView bytes) {
    if (!bytes.empty()) std::memcpy(data_.get(), bytes.data(), bytes.size());
  }

  std::unique_ptr<std::byte[]> data_;
  std::size_t size_ = 0;
};

}  // namespace wharf
