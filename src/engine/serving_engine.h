// The Engine the server, `bench` and tools use: an EngineCore driven by one step-loop thread, which
// owns the device. submit / abort / stats are thread-safe and never wait for a step: requests and
// aborts go through an inbox the loop drains between steps, and each request's events arrive on its
// own RequestStream. Dropping a stream before its final event aborts the request (a client that went
// away frees its blocks).
#pragma once

#include <memory>

#include "engine/engine.h"
#include "engine/engine_options.h"
#include "engine/model_bundle.h"

namespace ferrum {

// The bundle stays shared with the engine for the engine's lifetime (the step loop uses its model
// and tokenizer). Fails when the model has no batched forward or the options do not fit it.
Expected<std::unique_ptr<Engine>> create_engine(std::shared_ptr<ModelBundle> bundle, const EngineOptions& options);

}  // namespace ferrum
