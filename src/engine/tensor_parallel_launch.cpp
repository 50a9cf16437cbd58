#include "engine/tensor_parallel_launch.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/thread_pool.h"
#include "dist/wire.h"
#include "engine/tensor_parallel_lm.h"
#include "engine/worker_processes.h"

namespace ferrum {
namespace {

using dist::Clock;
using dist::MessageTag;
using dist::RankGroup;

// What rank 0 tells every other rank to load.
struct RankSetup {
  std::string model_path;
  std::string device;
  std::string dtype;   // CUDA activations (ModelOptions::dtype)
  size_t threads = 0;  // CPU threads per rank
  size_t max_context = 0;
  size_t max_batch_tokens = 0;
  size_t ranks_per_node = 1;
};

std::vector<uint8_t> encode_setup(const RankSetup& setup) {
  const nlohmann::json json = {{"model", setup.model_path},
                               {"device", setup.device},
                               {"dtype", setup.dtype},
                               {"threads", setup.threads},
                               {"max_context", setup.max_context},
                               {"max_batch_tokens", setup.max_batch_tokens},
                               {"ranks_per_node", setup.ranks_per_node}};
  const std::string text = json.dump();
  return {text.begin(), text.end()};
}

Expected<RankSetup> decode_setup(std::span<const uint8_t> bytes) {
  const auto json = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  FERRUM_CHECK(json.is_object(), ErrorCode::kParse, "tensor-parallel setup message is not a JSON object");
  RankSetup setup;
  try {
    setup.model_path = json.at("model").get<std::string>();
    setup.device = json.at("device").get<std::string>();
    setup.dtype = json.at("dtype").get<std::string>();
    setup.threads = json.at("threads").get<size_t>();
    setup.max_context = json.at("max_context").get<size_t>();
    setup.max_batch_tokens = json.at("max_batch_tokens").get<size_t>();
    setup.ranks_per_node = json.at("ranks_per_node").get<size_t>();
  } catch (const nlohmann::json::exception& error) {
    return make_error(ErrorCode::kParse, "tensor-parallel setup message: ", error.what());
  }
  FERRUM_CHECK(setup.ranks_per_node > 0, ErrorCode::kParse, "tensor-parallel setup: no ranks per node");
  return setup;
}

std::vector<uint8_t> encode_ready(const Status& loaded) {
  dist::WireWriter writer;
  writer.put<uint8_t>(loaded ? 1 : 0);
  writer.put_string(loaded ? std::string() : loaded.error().to_string());
  return std::move(writer.bytes());
}

Status decode_ready(std::span<const uint8_t> bytes, size_t rank) {
  dist::WireReader reader(bytes, "ready message");
  FERRUM_ASSIGN_OR_RETURN(uint8_t loaded, reader.get<uint8_t>());
  FERRUM_ASSIGN_OR_RETURN(std::string why, reader.get_string());
  FERRUM_CHECK(loaded == 1, ErrorCode::kInternal, "tensor-parallel rank ", rank, " could not load its shard: ", why);
  return ok();
}

Status validate(const ParallelOptions& p) {
  FERRUM_CHECK(p.tensor_parallel_size >= 1, ErrorCode::kInvalidArgument, "--tensor-parallel-size must be at least 1");
  FERRUM_CHECK(p.nnodes >= 1, ErrorCode::kInvalidArgument, "--nnodes must be at least 1");
  FERRUM_CHECK(p.tensor_parallel_size % p.nnodes == 0, ErrorCode::kInvalidArgument, "--tensor-parallel-size ",
               p.tensor_parallel_size, " does not spread evenly over --nnodes ", p.nnodes);
  FERRUM_CHECK(p.node_rank < p.nnodes, ErrorCode::kInvalidArgument, "--node-rank ", p.node_rank, " is outside 0..",
               p.nnodes - 1);
  FERRUM_CHECK(p.nnodes == 1 || p.master_port != 0, ErrorCode::kInvalidArgument,
               "--master-port is needed with --nnodes above 1 (every host must know where rank 0 listens)");
  return ok();
}

std::vector<std::string> worker_argv(const ParallelOptions& p, const std::string& master, size_t rank) {
  std::vector<std::string> argv = p.worker_command;
  if (argv.empty()) argv = {"/proc/self/exe", "tp-worker"};
  for (std::string arg : {std::string("--tp-master"), master, std::string("--tp-rank"), std::to_string(rank),
                          std::string("--tp-world"), std::to_string(p.tensor_parallel_size)}) {
    argv.push_back(std::move(arg));
  }
  return argv;
}

size_t threads_per_rank(const ModelOptions& options, size_t ranks_per_node) {
  if (options.threads != 0) return options.threads;
  return std::max<size_t>(1, std::thread::hardware_concurrency() / ranks_per_node);
}

// Rank 0's reaction to a rank's death once the group is up: the model cannot produce another
// token, so say which rank went and how, stop the local workers, and end the process.
[[noreturn]] void bring_group_down(WorkerProcesses& workers, size_t peer, const std::string& reason) {
  const std::string how = workers.describe_exit(peer, std::chrono::milliseconds(500));
  std::fprintf(stderr, "ferrum: error: the tensor-parallel group is down: %s%s%s\n", reason.c_str(),
               how.empty() ? "" : "; the process ", how.c_str());
  std::fflush(stderr);
  workers.kill_all();
  _exit(1);
}

Expected<std::unique_ptr<CausalLm>> start_group(const ModelFiles& files, const std::string& model_path,
                                                const ModelOptions& options, ModelRuntimeOptions runtime) {
  const ParallelOptions& p = options.parallel;
  const size_t world = p.tensor_parallel_size;
  const size_t per_node = world / p.nnodes;
  const bool one_host = p.nnodes == 1;
  FERRUM_ASSIGN_OR_RETURN(dist::Listener listener,
                          dist::Listener::bind(one_host ? "127.0.0.1" : "0.0.0.0", p.master_port));
  const std::string master =
      (one_host ? std::string("127.0.0.1") : p.master_addr) + ":" + std::to_string(listener.port());

  // Declared before the group, so the group (and its watcher thread) goes first on every return.
  auto workers = std::make_unique<WorkerProcesses>();
  for (size_t rank = 1; rank < per_node; ++rank) FERRUM_TRY(workers->spawn(rank, worker_argv(p, master, rank)));
  const dist::RankGroupOptions group_options = dist::RankGroupOptions::from_environment();
  auto hosted = RankGroup::host(listener, world, group_options, [&] { return workers->check_running(); });
  if (!hosted) return std::move(hosted).error().with_context("starting the tensor-parallel group");
  std::shared_ptr<RankGroup> group = std::move(*hosted);

  // Until every shard is loaded a failing rank reports its own error (and loading fails with it
  // here); after that, a rank's death ends the process at once.
  auto armed = std::make_shared<std::atomic<bool>>(false);
  WorkerProcesses* watched = workers.get();
  const bool exit_on_loss = p.exit_when_a_rank_dies;
  group->watch_peers([armed, watched, exit_on_loss](size_t peer, const std::string& reason) {
    if (armed->load() && exit_on_loss) bring_group_down(*watched, peer, reason);
  });

  const RankSetup setup{
      model_path,          options.device,           options.dtype, threads_per_rank(options, per_node),
      runtime.max_context, runtime.max_batch_tokens, per_node};
  FERRUM_TRY(group->send_to_all(MessageTag::kSetup, encode_setup(setup)));
  if (setup.device == "cpu") set_default_thread_count(setup.threads);
  runtime.rank_group = group;
  runtime.local_device = 0;
  auto local = create_model_on_device(files, options, runtime);
  if (!local) return std::move(local).error().with_context("tensor-parallel rank 0 loading its shard");
  for (size_t rank = 1; rank < world; ++rank) {
    FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> ready,
                            group->recv_message(rank, MessageTag::kReady, Clock::now() + group_options.op_timeout));
    FERRUM_TRY(decode_ready(ready, rank));
  }
  armed->store(true);
  FERRUM_CHECK(group->healthy(), ErrorCode::kIo, "tensor parallel: ", group->failure());
  return std::unique_ptr<CausalLm>(new TensorParallelCausalLm(std::move(*local), group, std::move(workers)));
}

// A host other than the first: its first process is a rank too, after starting the host's others.
[[noreturn]] void follow_from_other_host(const ParallelOptions& p) {
  const size_t per_node = p.tensor_parallel_size / p.nnodes;
  const size_t first = p.node_rank * per_node;
  const std::string master = p.master_addr + ":" + std::to_string(p.master_port);
  WorkerProcesses workers;
  Status status = ok();
  for (size_t rank = first + 1; rank < first + per_node && status; ++rank) {
    status = workers.spawn(rank, worker_argv(p, master, rank));
  }
  if (status) status = run_tensor_parallel_worker(master, first, p.tensor_parallel_size);
  workers.wait_or_stop(std::chrono::seconds(10));
  if (!status)
    std::fprintf(stderr, "ferrum: error: tensor-parallel rank %zu: %s\n", first, status.error().to_string().c_str());
  std::exit(status ? 0 : 1);
}

}  // namespace

Expected<std::unique_ptr<CausalLm>> load_causal_lm(const ModelFiles& files, const std::string& model_path,
                                                   const ModelOptions& options, ModelRuntimeOptions runtime) {
  const ParallelOptions& p = options.parallel;
  FERRUM_TRY(validate(p));
  if (p.tensor_parallel_size == 1) return create_model_on_device(files, options, runtime);
  if (p.node_rank > 0) follow_from_other_host(p);
  return start_group(files, model_path, options, std::move(runtime));
}

Status run_tensor_parallel_worker(const std::string& master, size_t rank, size_t world_size) {
  FERRUM_ASSIGN_OR_RETURN(auto address, dist::parse_host_port(master));
  const dist::RankGroupOptions group_options = dist::RankGroupOptions::from_environment();
  FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<RankGroup> joined,
                          RankGroup::join(address.first, address.second, rank, world_size, group_options));
  std::shared_ptr<RankGroup> group = std::move(joined);
  // Without rank 0 nothing can happen: leave at once, even from the middle of a collective.
  group->watch_peers([rank](size_t, const std::string& reason) {
    std::fprintf(stderr, "ferrum tp-worker (rank %zu): %s; leaving\n", rank, reason.c_str());
    std::fflush(stderr);
    _exit(1);
  });
  FERRUM_ASSIGN_OR_RETURN(std::vector<uint8_t> setup_bytes,
                          group->recv_message(0, MessageTag::kSetup, Clock::now() + group_options.join_timeout));
  FERRUM_ASSIGN_OR_RETURN(RankSetup setup, decode_setup(setup_bytes));
  if (setup.device == "cpu") set_default_thread_count(setup.threads);

  // The files stay open while the shard lives: CPU weights are read in place from their mapping.
  Expected<ModelFiles> files = open_model_files(setup.model_path);
  Expected<std::unique_ptr<CausalLm>> local = [&]() -> Expected<std::unique_ptr<CausalLm>> {
    if (!files) return files.error();
    ModelRuntimeOptions runtime;
    runtime.max_context = setup.max_context;
    runtime.max_batch_tokens = setup.max_batch_tokens;
    runtime.rank_group = group;
    runtime.local_device = rank % setup.ranks_per_node;
    ModelOptions options;
    options.model = setup.model_path;
    options.device = setup.device;
    options.dtype = setup.dtype;
    return create_model_on_device(*files, options, runtime);
  }();
  const Status loaded = local ? ok() : Status(local.error());
  FERRUM_TRY(group->send(0, MessageTag::kReady, encode_ready(loaded)));
  if (!local) return std::move(local).error().with_context(cat("tensor-parallel rank ", rank, " loading its shard"));
  return follow_rank_zero(*group, **local);
}

}  // namespace ferrum
