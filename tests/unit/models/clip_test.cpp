// CLIP against transformers' get_text_features / get_image_features on the hf-tiny fixture.
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "formats/hf_config.h"
#include "models/clip.h"
#include "models/safetensors_source.h"
#include "reference_fixture.h"

namespace ferrum {
namespace {

using testing::hf_tiny_dir;
using testing::max_abs_difference;

constexpr double kTolerance = 1e-4;

struct LoadedClip {
  std::unique_ptr<SafetensorsSource> source;
  std::optional<ClipModel<CpuBackend>> model;
};

LoadedClip load_clip() {
  LoadedClip loaded;
  auto config = load_hf_config(hf_tiny_dir("clip") / "config.json");
  EXPECT_TRUE(config) << config.error().to_string();
  if (!config) return loaded;
  auto hparams = clip_hparams(*config);
  EXPECT_TRUE(hparams) << hparams.error().to_string();
  auto source = SafetensorsSource::open(hf_tiny_dir("clip") / "model.safetensors");
  EXPECT_TRUE(source) << source.error().to_string();
  if (!hparams || !source) return loaded;
  loaded.source = std::move(*source);
  WeightLoader<CpuBackend> loader(*loaded.source, {});
  auto model = ClipModel<CpuBackend>::load(*hparams, loader);
  EXPECT_TRUE(model) << model.error().to_string();
  if (model) loaded.model.emplace(std::move(*model));
  return loaded;
}

std::vector<float> row_of(const std::vector<float>& values, size_t row, size_t width) {
  return std::vector<float>(values.begin() + static_cast<ptrdiff_t>(row * width),
                            values.begin() + static_cast<ptrdiff_t>((row + 1) * width));
}

TEST(Clip, TextFeaturesMatchTransformers) {
  LoadedClip loaded = load_clip();
  ASSERT_TRUE(loaded.model);
  auto ids = testing::reference_ids("clip", "input_ids");
  auto expected = testing::reference_tensor("clip", "text_embeds");
  ASSERT_TRUE(ids && expected);
  const size_t projection = loaded.model->hparams().projection_dim;
  const size_t length = ids->size() / 2;
  auto ctx = CpuBackend::new_context();
  for (size_t row = 0; row < 2; ++row) {
    const std::vector<uint32_t> text(ids->begin() + static_cast<ptrdiff_t>(row * length),
                                     ids->begin() + static_cast<ptrdiff_t>((row + 1) * length));
    auto features = loaded.model->text_features(ctx, text);
    ASSERT_TRUE(features) << features.error().to_string();
    const auto difference = max_abs_difference(*features, row_of(*expected, row, projection));
    std::printf("clip text %zu: max |feature - reference| = %.3g\n", row, difference.max_abs);
    EXPECT_LT(difference.max_abs, kTolerance);
  }
}

TEST(Clip, ImageFeaturesMatchTransformers) {
  LoadedClip loaded = load_clip();
  ASSERT_TRUE(loaded.model);
  auto pixels = testing::reference_tensor("clip", "pixel_values");
  auto expected = testing::reference_tensor("clip", "image_embeds");
  ASSERT_TRUE(pixels && expected);
  const size_t projection = loaded.model->hparams().projection_dim;
  const size_t image = pixels->size() / 2;
  auto ctx = CpuBackend::new_context();
  for (size_t row = 0; row < 2; ++row) {
    auto features = loaded.model->image_features(ctx, std::span(*pixels).subspan(row * image, image));
    ASSERT_TRUE(features) << features.error().to_string();
    const auto difference = max_abs_difference(*features, row_of(*expected, row, projection));
    std::printf("clip image %zu: max |feature - reference| = %.3g\n", row, difference.max_abs);
    EXPECT_LT(difference.max_abs, kTolerance);
  }
}

TEST(Clip, PoolIndexFollowsTransformers) {
  const std::vector<uint32_t> ids = {49406, 320, 49407, 1125, 49407};
  // eos_token_id 2 (the original conversions): the first largest id.
  EXPECT_EQ(*clip_text_pool_index(ids, 2), 2u);
  EXPECT_EQ(*clip_text_pool_index(std::vector<uint32_t>{5, 9, 9, 2}, 2), 1u);
  // Otherwise the first end-of-text token.
  EXPECT_EQ(*clip_text_pool_index(ids, 49407), 2u);
  EXPECT_EQ(*clip_text_pool_index(ids, 1125), 3u);
  EXPECT_FALSE(clip_text_pool_index(ids, 7));
}

TEST(Clip, RejectsBadInputs) {
  LoadedClip loaded = load_clip();
  ASSERT_TRUE(loaded.model);
  auto ctx = CpuBackend::new_context();
  EXPECT_EQ(loaded.model->text_features(ctx, std::vector<uint32_t>(33, 5)).error().code(), ErrorCode::kLimitExceeded);
  EXPECT_EQ(loaded.model->text_features(ctx, std::vector<uint32_t>{3, 600}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(loaded.model->image_features(ctx, std::vector<float>(3 * 32 * 31)).error().code(),
            ErrorCode::kShapeMismatch);
}

}  // namespace
}  // namespace ferrum
