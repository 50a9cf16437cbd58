#include "core/error.h"

#include <gtest/gtest.h>

namespace ferrum {
namespace {

Expected<int> parse_positive(int value) {
  FERRUM_CHECK(value > 0, ErrorCode::kInvalidArgument, "value ", value, " is not positive");
  return value;
}

Expected<int> doubled(int value) {
  FERRUM_ASSIGN_OR_RETURN(int parsed, parse_positive(value));
  return parsed * 2;
}

Status validate(int value) {
  FERRUM_TRY(parse_positive(value));
  return ok();
}

TEST(Error, ValueFlowsThrough) {
  Expected<int> result = doubled(21);
  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 42);
}

TEST(Error, ErrorPropagatesWithMessage) {
  Expected<int> result = doubled(-3);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(result.error().message(), "value -3 is not positive");
  EXPECT_EQ(result.error().to_string(), "invalid argument: value -3 is not positive");
}

TEST(Error, StatusAndContext) {
  EXPECT_TRUE(validate(1));
  Status status = validate(0);
  ASSERT_FALSE(status);
  Error error = std::move(status).error().with_context("loading x.gguf");
  EXPECT_EQ(error.message(), "loading x.gguf: value 0 is not positive");
}

}  // namespace
}  // namespace ferrum
