// Settings of one chat-template render: resource limits, the clock behind strftime_now, and the
// sandbox rule for mutating methods.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>

namespace ferrum::chat {

// A template is code from a model repository; these bound what one render may cost. Exceeding any of
// them fails the render with ErrorCode::kLimitExceeded.
struct RenderLimits {
  // Bytes of rendered output, and of any single string or JSON text built on the way.
  size_t max_output_bytes = 32u << 20;
  // Loop iterations over the whole render (all loops together, recursive loops included).
  uint64_t max_loop_iterations = 1'000'000;
  // Nesting of evaluation: statements, expressions and calls inside each other. Jinja2 under
  // Python's recursion limit (1000 interpreter frames, several per template level) stops far earlier.
  int max_recursion_depth = 500;
  // Bytes of machine stack one render may use (about 3 KB per nesting level in release builds, 8 KB
  // with sanitizers). Keep it below the stack size of the rendering thread.
  size_t max_stack_bytes = 4u << 20;
  // Macros (and caller() / recursive loop bodies) active inside each other.
  int max_macro_call_depth = 100;
  // Elements of any one list built during the render (range() is capped at 100000 as in Jinja2's sandbox).
  size_t max_sequence_length = 1'000'000;
  // Work over the whole render, in elements and bytes that operators, filters, methods and calls take
  // in and produce. Bounds templates that end but do too much (`x in big_list` in a long loop); the
  // fixture templates with tools cost under 10^4.
  uint64_t max_work = 500'000'000;
};

struct RenderOptions {
  RenderLimits limits;
  // The time strftime_now() formats, as local broken-down time. Unset: the system clock.
  std::function<std::tm()> now;
  // transformers renders in Jinja2's ImmutableSandboxedEnvironment, where list.append, dict.update and
  // friends raise a SecurityError. Set true to allow them (some templates written for other engines
  // use `ns.items.append(x)`).
  bool allow_mutating_methods = false;
};

}  // namespace ferrum::chat
