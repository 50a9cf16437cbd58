// The serving engine that batched-decode tests (`ferrum bench -b 16,64`) submit their requests to.
// This is the one place that builds it for `bench`, so the tests start measuring the day the
// engine exists: until src/engine has an Engine implementation, make_bench_engine answers
// kUnsupported and the report marks batched tests "not available" with that reason.
#pragma once

#include <memory>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/model_bundle.h"

namespace ferrum::bench {

// An engine over `bundle`'s model that can run `max_sequences` sequences at once.
Expected<std::unique_ptr<Engine>> make_bench_engine(ModelBundle& bundle, size_t max_sequences);

}  // namespace ferrum::bench
