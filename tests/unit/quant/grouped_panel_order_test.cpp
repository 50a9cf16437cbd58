// How GPTQ / AWQ weights lay into whole-matrix panels: the channel order (act-order sorted by group,
// each group padded to whole 32-position blocks) and how many positions may share one stored
// scale / offset entry (shared_scale_positions).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "quant/grouped_weight.h"

namespace ferrum {
namespace {

quant::GroupedQuantWeight natural(size_t k, size_t group_size) {
  quant::GroupedQuantWeight w;
  w.k = k;
  w.n = 8;
  w.group_size = group_size;
  return w;
}

TEST(SharedScalePositions, NaturalOrderKeepsOneEntryPerQuantizationGroup) {
  for (size_t group : {size_t{32}, size_t{64}, size_t{128}, size_t{256}}) {
    const quant::GroupedQuantWeight w = natural(4096, group);
    const quant::PanelOrder order = quant::grouped_panel_order(w);
    ASSERT_TRUE(order.identity());
    EXPECT_EQ(quant::shared_scale_positions(w, order), group) << "group " << group;
  }
}

TEST(SharedScalePositions, OneGroupOverKSharesAsFarAsThePositionsDivide) {
  const quant::GroupedQuantWeight whole = natural(2048, 0);
  EXPECT_EQ(quant::shared_scale_positions(whole, quant::grouped_panel_order(whole)), 2048u);
  // 1056 = 33 blocks: no run of two blocks tiles it.
  const quant::GroupedQuantWeight odd = natural(1056, 0);
  EXPECT_EQ(quant::shared_scale_positions(odd, quant::grouped_panel_order(odd)), 32u);
}

TEST(SharedScalePositions, GroupsThatDoNotFillBlocksShareNoEntry) {
  // Groups of 80 channels pad to 96 positions (3 blocks): a run of 2 blocks would join two groups.
  const quant::GroupedQuantWeight w = natural(480, 80);
  const quant::PanelOrder order = quant::grouped_panel_order(w);
  ASSERT_FALSE(order.identity());
  EXPECT_EQ(order.positions, 576u);
  EXPECT_EQ(quant::shared_scale_positions(w, order), 32u);
}

TEST(SharedScalePositions, ActOrderGroupsPaddedToTwoBlocksShareOneEntry) {
  // 4 groups of 48 channels scattered over k = 192: each sorts into 64 positions (16 of padding).
  const size_t k = 192;
  std::vector<int32_t> g_idx(k);
  for (size_t c = 0; c < k; ++c) g_idx[c] = static_cast<int32_t>((c * 7) % 4);
  quant::GroupedQuantWeight w = natural(k, 48);
  w.g_idx = g_idx.data();
  const quant::PanelOrder order = quant::grouped_panel_order(w);
  EXPECT_EQ(order.positions, 256u);
  EXPECT_EQ(quant::shared_scale_positions(w, order), 64u);
}

}  // namespace
}  // namespace ferrum
