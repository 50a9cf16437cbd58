#include "engine/stop_conditions.h"

#include <gtest/gtest.h>

namespace ferrum {
namespace {

TEST(StopStrings, HoldsBackPossiblePrefixes) {
  StopStringMatcher matcher({"</answer>", "STOP"});
  EXPECT_EQ(matcher.push("Hello </an").emit, "Hello ");
  const auto result = matcher.push("swer> tail");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.emit, "");
}

TEST(StopStrings, ReleasesTextThatStopsBeingAPrefix) {
  StopStringMatcher matcher({"STOP"});
  EXPECT_EQ(matcher.push("ST").emit, "");
  EXPECT_EQ(matcher.push("ART").emit, "START");
  EXPECT_EQ(matcher.push("S").emit, "");
  EXPECT_EQ(matcher.flush(), "S");
}

TEST(StopStrings, EarliestMatchWins) {
  StopStringMatcher matcher({"bc", "ab"});
  const auto result = matcher.push("xabcd");
  EXPECT_TRUE(result.stopped);
  EXPECT_EQ(result.emit, "x");
}

TEST(StopStrings, NoStopStringsPassEverything) {
  StopStringMatcher matcher({});
  EXPECT_EQ(matcher.push("abc").emit, "abc");
  EXPECT_EQ(matcher.flush(), "");
}

}  // namespace
}  // namespace ferrum
