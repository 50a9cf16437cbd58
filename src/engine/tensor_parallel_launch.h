// Building a model on a device, whole or split over a tensor-parallel group of processes.
//
// Rank 0 (node 0's process): listens for the group, starts the other ranks of its host as
// `tp-worker` processes, waits for every rank to join (failing at once if a worker exits first),
// sends each the setup (the model, the device, the runtime limits), loads its own shard, and waits
// until every rank reports its shard loaded. On CUDA, creating each rank's context also creates
// the NCCL communicator (rank 0's ncclUniqueId travels over the group's TCP connections).
//
// A host other than the first (node_rank > 0) starts its ranks the same way and then follows rank 0.
#pragma once

#include <memory>
#include <string>

#include "engine/model_bundle.h"
#include "models/causal_lm.h"
#include "models/causal_lm_factory.h"
#include "models/model_files.h"

namespace ferrum {

// The model for `options`: on options.device in options.dtype (create_model_on_device, on every
// rank), split over options.parallel.tensor_parallel_size ranks when that is above one.
// `model_path` is where the other ranks find the model (the resolved path of options.model). On a
// host with node_rank > 0 this call does not return: the process follows rank 0 and exits when
// the group shuts down (or fails).
Expected<std::unique_ptr<CausalLm>> load_causal_lm(const ModelFiles& files, const std::string& model_path,
                                                   const ModelOptions& options, ModelRuntimeOptions runtime);

// The body of the hidden `ferrum tp-worker` command: joins the group at `master` (host:port) as
// `rank` of `world_size`, loads the shard rank 0 describes and follows rank 0 until it shuts down.
Status run_tensor_parallel_worker(const std::string& master, size_t rank, size_t world_size);

}  // namespace ferrum
