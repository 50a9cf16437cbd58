#include "tokenizer/flat_index.h"

#include <functional>

namespace ferrum::tokenizer {
namespace {

uint64_t hash_text(std::string_view text) {
  return mix_bits(std::hash<std::string_view>{}(text));
}

}  // namespace

void TextIdIndex::build(const std::vector<std::string>& texts) {
  texts_ = texts.data();
  slots_.assign(table_capacity_for(texts.size()), Slot{0, -1});
  mask_ = slots_.size() - 1;
  for (size_t id = 0; id < texts.size(); ++id) {
    const uint64_t hash = hash_text(texts[id]);
    const uint32_t tag = static_cast<uint32_t>(hash >> 32);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].id < 0) {
        slots_[i] = {tag, static_cast<int32_t>(id)};
        break;
      }
      if (slots_[i].hash_tag == tag && texts[slots_[i].id] == texts[id]) break;  // keep the lower id
    }
  }
}

int32_t TextIdIndex::find(std::string_view text) const {
  if (slots_.empty()) return -1;
  const uint64_t hash = hash_text(text);
  const uint32_t tag = static_cast<uint32_t>(hash >> 32);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.id < 0) return -1;
    if (slot.hash_tag == tag && texts_[slot.id] == text) return slot.id;
  }
}

}  // namespace ferrum::tokenizer
