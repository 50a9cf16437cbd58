// Open-addressing hash tables for the two lookups on the encoding hot path: merge pairs (by id
// pair) and token ids (by text). Node-based std::unordered_map spent most of BPE's time chasing
// pointers; these keep each probe in one or two cache lines. Built once, then read-only, so
// concurrent lookups need no lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferrum::tokenizer {

inline uint64_t mix_bits(uint64_t value) {
  // The murmur3 finalizer: every input bit affects every output bit.
  value ^= value >> 33;
  value *= 0xff51afd7ed558ccdULL;
  value ^= value >> 33;
  value *= 0xc4ceb9fe1a85ec53ULL;
  value ^= value >> 33;
  return value;
}

inline size_t table_capacity_for(size_t entries) {
  size_t capacity = 16;
  while (capacity < entries * 2) capacity <<= 1;  // at most half full keeps probe runs short
  return capacity;
}

// uint64 key -> Value. The all-ones key is reserved to mark empty slots.
template <class Value>
class FlatU64Map {
 public:
  static constexpr uint64_t kEmpty = ~0ULL;

  void reserve(size_t entries) {
    slots_.assign(table_capacity_for(entries), Slot{kEmpty, Value{}});
    mask_ = slots_.size() - 1;
  }
  // Keeps an existing entry (the first insertion of a key wins).
  void insert(uint64_t key, const Value& value) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = mix_bits(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return;
      if (slots_[i].key == kEmpty) {
        slots_[i] = {key, value};
        ++size_;
        return;
      }
    }
  }
  const Value* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = mix_bits(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return &slots_[i].value;
      if (slots_[i].key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key;
    Value value;
  };
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    reserve(std::max<size_t>(size_ * 2, 8));
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.key != kEmpty) insert(slot.key, slot.value);
    }
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

// Token text -> the lowest id with that text. The index points at the elements of the caller's
// vector, which must outlive it and not be resized (moving the vector is fine: its buffer stays).
class TextIdIndex {
 public:
  void build(const std::vector<std::string>& texts);
  // -1 when absent.
  int32_t find(std::string_view text) const;

 private:
  struct Slot {
    uint32_t hash_tag;  // upper hash bits, to skip most string compares
    int32_t id;         // -1: empty
  };
  const std::string* texts_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace ferrum::tokenizer
