// Tensor parallelism through real processes: `ferrum ... --tensor-parallel-size 2` starts a
// `tp-worker` process, bootstraps the group, broadcasts every step and shuts down cleanly, with the
// same results as one process; a worker that dies (or never starts) brings rank 0 down within
// seconds with a message naming it, and a dead rank 0 takes its workers with it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "dist/socket.h"
#include "engine/tensor_parallel_launch.h"
#include "engine/tensor_parallel_lm.h"
#include "models/safetensors_source.h"
#include "unit/models/reference_fixture.h"

namespace ferrum {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kFerrum = FERRUM_BINARY;
const std::string kStories = std::string(FERRUM_FIXTURES_DIR) + "/stories260K/stories260K.gguf";

std::string scratch_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("ferrum-tp-" + std::to_string(getpid()) + "-" + name)).string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A child process with stdin on a pipe we hold, stdout and stderr in files.
struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;
  std::string out_path, err_path;

  // Exit status, or nullopt if it is still running after `wait`.
  std::optional<int> wait_for(std::chrono::milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    for (;;) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) return status;
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void kill_now() {
    if (pid > 0 && kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
  }
};

Child start(const std::vector<std::string>& args, const std::string& tag) {
  Child child;
  child.out_path = scratch_path(tag + ".out");
  child.err_path = scratch_path(tag + ".err");
  int in_pipe[2];
  EXPECT_EQ(pipe(in_pipe), 0);
  std::vector<std::string> argv = {kFerrum};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  child.pid = fork();
  if (child.pid == 0) {
    dup2(in_pipe[0], STDIN_FILENO);
    close(in_pipe[1]);
    freopen(child.out_path.c_str(), "w", stdout);
    freopen(child.err_path.c_str(), "w", stderr);
    execv(raw[0], raw.data());
    _exit(127);
  }
  close(in_pipe[0]);
  child.stdin_fd = in_pipe[1];
  return child;
}

// Runs ferrum to completion (stdin closed); returns exit status, stdout, stderr.
struct Finished {
  int status = -1;
  std::string out, err;
};
Finished run_ferrum(const std::vector<std::string>& args, const std::string& tag) {
  Child child = start(args, tag);
  close(child.stdin_fd);
  Finished finished;
  const auto status = child.wait_for(std::chrono::seconds(120));
  if (!status) child.kill_now();
  finished.status = status.value_or(-1);
  finished.out = read_file(child.out_path);
  finished.err = read_file(child.err_path);
  std::filesystem::remove(child.out_path);
  std::filesystem::remove(child.err_path);
  return finished;
}

std::string prompt_ids(const std::string& fixture) {
  auto ids = testing::reference_ids(fixture, "input_ids");
  EXPECT_TRUE(ids);
  std::string text;
  for (uint32_t id : ids.value_or(std::vector<uint32_t>{})) {
    if (!text.empty()) text += ',';
    text += std::to_string(id);
  }
  return text;
}

std::vector<float> saved_logits(const std::string& path) {
  auto source = SafetensorsSource::open(path);
  EXPECT_TRUE(source) << source.error().to_string();
  if (!source) return {};
  auto tensor = (*source)->find("logits");
  EXPECT_TRUE(tensor);
  if (!tensor) return {};
  const float* data = tensor->view.data_as<float>();
  return std::vector<float>(data, data + tensor->view.numel());
}

class ProcessGroup : public ::testing::TestWithParam<std::string> {};

TEST_P(ProcessGroup, LogitsThroughTwoProcessesMatchOneProcess) {
  const std::string fixture = GetParam();
  const std::string model = testing::hf_tiny_dir(fixture).string();
  std::vector<std::vector<float>> logits;
  for (const char* tp : {"1", "2"}) {
    const std::string out = scratch_path(fixture + "-tp" + tp + ".safetensors");
    const Finished run = run_ferrum(
        {"logits", model, "--ids", prompt_ids(fixture), "--out", out, "-t", "1", "--tensor-parallel-size", tp},
        fixture + "-logits-tp" + tp);
    ASSERT_EQ(run.status, 0) << run.err;
    logits.push_back(saved_logits(out));
    std::filesystem::remove(out);
  }
  ASSERT_EQ(logits[0].size(), logits[1].size());
  ASSERT_FALSE(logits[0].empty());
  double worst = 0;
  for (size_t i = 0; i < logits[0].size(); ++i) worst = std::max(worst, double(std::fabs(logits[0][i] - logits[1][i])));
  std::printf("%-12s ferrum logits, 2 processes vs 1: max |dlogit| %.3g\n", fixture.c_str(), worst);
  EXPECT_LT(worst, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(HfTiny, ProcessGroup, ::testing::Values("llama3", "qwen3_moe"));

TEST(ProcessGroup, GreedyGenerationThroughTwoProcessesMatchesOneProcess) {
  std::vector<std::string> texts;
  for (const char* tp : {"1", "2"}) {
    const Finished run = run_ferrum(
        {"run", kStories, "-p", "Once upon a time", "-n", "32", "--temp", "0", "--raw", "-t", "1", "-tp", tp},
        std::string("stories-tp") + tp);
    ASSERT_EQ(run.status, 0) << run.err;
    texts.push_back(run.out);
  }
  std::printf("TP=2 generated: %s\n", texts[1].c_str());
  EXPECT_GT(texts[0].size(), std::string("Once upon a time").size());
  EXPECT_EQ(texts[1], texts[0]);
}

TEST(ProcessGroup, TwoHostsOnLoopbackMatchOneProcess) {
  // Two "hosts" of two ranks each: node 1 starts first (it retries until rank 0 listens), starts
  // its second rank, and follows; node 0 serves the result and shuts the group down.
  uint16_t port = 0;
  {
    auto probe = dist::Listener::bind("127.0.0.1", 0);
    ASSERT_TRUE(probe);
    port = probe->port();
  }
  const std::string model = testing::hf_tiny_dir("llama3").string();
  const std::string ids = prompt_ids("llama3");
  const auto node_args = [&](const char* rank, const std::string& out) {
    return std::vector<std::string>{"logits",
                                    model,
                                    "--ids",
                                    ids,
                                    "-t",
                                    "1",
                                    "-tp",
                                    "4",
                                    "--nnodes",
                                    "2",
                                    "--node-rank",
                                    rank,
                                    "--master-addr",
                                    "127.0.0.1",
                                    "--master-port",
                                    std::to_string(port),
                                    "--out",
                                    out};
  };
  const std::string node0_out = scratch_path("node0.safetensors");
  const std::string one_out = scratch_path("one.safetensors");
  Child node1 = start(node_args("1", scratch_path("node1-unused.safetensors")), "node1");
  close(node1.stdin_fd);
  const Finished node0 = run_ferrum(node_args("0", node0_out), "node0");
  const std::optional<int> node1_status = node1.wait_for(std::chrono::seconds(30));
  if (!node1_status) node1.kill_now();
  ASSERT_EQ(node0.status, 0) << node0.err;
  ASSERT_TRUE(node1_status.has_value());
  EXPECT_EQ(*node1_status, 0) << read_file(node1.err_path);
  const Finished one = run_ferrum({"logits", model, "--ids", ids, "-t", "1", "--out", one_out}, "one");
  ASSERT_EQ(one.status, 0) << one.err;
  const std::vector<float> split = saved_logits(node0_out), whole = saved_logits(one_out);
  ASSERT_EQ(split.size(), whole.size());
  double worst = 0;
  for (size_t i = 0; i < split.size(); ++i) worst = std::max(worst, double(std::fabs(split[i] - whole[i])));
  std::printf("llama3 over 2 loopback hosts x 2 ranks vs 1 process: max |dlogit| %.3g\n", worst);
  EXPECT_LT(worst, 1e-4);
  for (const std::string& path : {node0_out, one_out, node1.out_path, node1.err_path}) std::filesystem::remove(path);
}

TEST(ProcessGroup, SeveralHostsNeedAMasterPort) {
  const Finished run = run_ferrum(
      {"logits", testing::hf_tiny_dir("llama3").string(), "--ids", "1,2", "-tp", "2", "--nnodes", "2"}, "no-port");
  EXPECT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 2) << run.status;
  EXPECT_NE(run.err.find("--master-port is needed with --nnodes above 1"), std::string::npos) << run.err;
}

// Waits until `path` contains `text`.
bool wait_for_text(const std::string& path, const std::string& text, std::chrono::seconds wait) {
  const auto deadline = Clock::now() + wait;
  while (Clock::now() < deadline) {
    if (read_file(path).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Every thread's children: workers are forked by a thread of rank 0's own (worker_processes.h).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> children;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) children.push_back(child);
  }
  return children;
}

bool process_gone(pid_t pid, std::chrono::seconds wait) {
  const auto deadline = Clock::now() + wait;
  while (Clock::now() < deadline) {
    const std::string state = read_file("/proc/" + std::to_string(pid) + "/stat");
    // Gone, or a zombie waiting for a parent that is itself gone.
    if (state.empty() || state.find(") Z") != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(ProcessGroup, AKilledWorkerBringsRankZeroDownWithinSeconds) {
  // Interactive chat: rank 0 sits at its prompt, the worker waits for the next step.
  Child rank0 = start({"run", kStories, "-i", "-t", "1", "-tp", "2"}, "kill-worker");
  ASSERT_TRUE(wait_for_text(rank0.err_path, "Chat with", std::chrono::seconds(60))) << read_file(rank0.err_path);
  const std::vector<pid_t> workers = children_of(rank0.pid);
  ASSERT_EQ(workers.size(), 1u);
  const auto killed_at = Clock::now();
  ASSERT_EQ(kill(workers[0], SIGKILL), 0);
  const std::optional<int> status = rank0.wait_for(std::chrono::seconds(10));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed_at).count();
  const std::string err = read_file(rank0.err_path);
  if (!status) rank0.kill_now();
  close(rank0.stdin_fd);
  std::printf("rank 0 exited %.2f s after its worker was killed; it said:\n%s\n", seconds,
              err.substr(err.find("ferrum: error")).c_str());
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0);
  EXPECT_LT(seconds, 5.0);
  EXPECT_NE(err.find("the tensor-parallel group is down: tensor-parallel rank 1 closed its connection"),
            std::string::npos);
  EXPECT_NE(err.find("was killed by signal 9"), std::string::npos);
  std::filesystem::remove(rank0.out_path);
  std::filesystem::remove(rank0.err_path);
}

TEST(ProcessGroup, AKilledRankZeroTakesItsWorkersWithIt) {
  Child rank0 = start({"run", kStories, "-i", "-t", "1", "-tp", "2"}, "kill-rank0");
  ASSERT_TRUE(wait_for_text(rank0.err_path, "Chat with", std::chrono::seconds(60))) << read_file(rank0.err_path);
  const std::vector<pid_t> workers = children_of(rank0.pid);
  ASSERT_EQ(workers.size(), 1u);
  rank0.kill_now();
  close(rank0.stdin_fd);
  EXPECT_TRUE(process_gone(workers[0], std::chrono::seconds(5)));
  std::filesystem::remove(rank0.out_path);
  std::filesystem::remove(rank0.err_path);
}

// POSTs `body` to 127.0.0.1:port/v1/completions; the reply's first choice's text.
std::string complete(uint16_t port, const std::string& body) {
  auto socket = dist::Socket::connect("127.0.0.1", port, Clock::now() + std::chrono::seconds(10));
  EXPECT_TRUE(socket);
  if (!socket) return {};
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_TRUE(socket->send_all(std::span(reinterpret_cast<const uint8_t*>(request.data()), request.size()), "server"));
  std::string reply;
  char chunk[4096];
  for (ssize_t got; (got = ::recv(socket->fd(), chunk, sizeof(chunk), 0)) > 0;) reply.append(chunk, size_t(got));
  const size_t start = reply.find("\r\n\r\n");
  EXPECT_NE(start, std::string::npos) << reply;
  const auto json = nlohmann::json::parse(reply.substr(start + 4), nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << reply;
  if (json.is_discarded() || !json.contains("choices")) return "no text: " + reply;
  return json["choices"][0]["text"].get<std::string>();
}

// `ferrum serve` at `tp` ranks: the greedy texts of `prompts`, asked all at once (so the engine
// batches them: greedy rows take the argmax across the ranks).
std::vector<std::string> served_texts(const char* tp, const std::vector<std::string>& prompts) {
  Child server =
      start({"serve", kStories, "-t", "1", "-tp", tp, "--port", "0", "-c", "256"}, std::string("serve-tp") + tp);
  close(server.stdin_fd);
  std::vector<std::string> texts(prompts.size());
  if (wait_for_text(server.err_path, "ready in", std::chrono::seconds(60))) {
    const std::string err = read_file(server.err_path);
    const size_t colon = err.find(':', err.find("listening on http://") + 20);
    const auto port = static_cast<uint16_t>(std::stoi(err.substr(colon + 1)));
    std::vector<std::thread> clients;
    for (size_t i = 0; i < prompts.size(); ++i) {
      clients.emplace_back([&, i] {
        const nlohmann::json body = {
            {"prompt", prompts[i]}, {"max_tokens", 24}, {"temperature", 0}, {"ignore_eos", true}};
        texts[i] = complete(port, body.dump());
      });
    }
    for (std::thread& client : clients) client.join();
    // Still serving after the requests (its workers alive).
    EXPECT_FALSE(server.wait_for(std::chrono::milliseconds(200)).has_value()) << read_file(server.err_path);
  } else {
    ADD_FAILURE() << "serve -tp " << tp << " never became ready: " << read_file(server.err_path);
  }
  kill(server.pid, SIGTERM);
  if (!server.wait_for(std::chrono::seconds(20))) server.kill_now();
  std::filesystem::remove(server.out_path);
  std::filesystem::remove(server.err_path);
  return texts;
}

// The server loads its model on a thread that ends once loading is done: the workers it started
// must outlive that thread (they once died with it, SIGKILL, right after "ready").
TEST(ProcessGroup, AServedModelAnswersThroughTwoProcessesAsThroughOne) {
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "Lily and Tom went",
                                            "One day, a big"};
  const std::vector<std::string> one = served_texts("1", prompts), two = served_texts("2", prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_GT(one[i].size(), 20u) << one[i];
    EXPECT_EQ(two[i], one[i]) << prompts[i];
  }
  std::printf("served through TP=2: %s|%s\n", prompts[0].c_str(), two[0].c_str());
}

ModelOptions tp2_options(std::vector<std::string> worker_command) {
  ModelOptions options;
  options.model = testing::hf_tiny_dir("llama3").string();
  options.threads = 1;
  options.parallel.tensor_parallel_size = 2;
  options.parallel.worker_command = std::move(worker_command);
  options.parallel.exit_when_a_rank_dies = false;
  return options;
}

Expected<std::unique_ptr<CausalLm>> load_tp2(const ModelOptions& options, const ModelFiles& files) {
  ModelRuntimeOptions runtime;
  runtime.max_context = 64;
  runtime.max_batch_tokens = 16;
  return load_causal_lm(files, options.model, options, runtime);
}

TEST(EngineGroup, AWorkerThatCannotStartFailsTheLoadWithItsExitStatus) {
  const ModelOptions options = tp2_options({"/bin/false"});
  auto files = open_model_files(options.model);
  ASSERT_TRUE(files);
  const auto start_time = Clock::now();
  auto lm = load_tp2(options, *files);
  ASSERT_FALSE(lm);
  std::printf("no worker: %s\n", lm.error().to_string().c_str());
  EXPECT_LT(Clock::now() - start_time, std::chrono::seconds(5));
  EXPECT_NE(lm.error().message().find("tensor-parallel rank 1 (pid"), std::string::npos);
  EXPECT_NE(lm.error().message().find("exited with status 1"), std::string::npos);
}

TEST(EngineGroup, ARankKilledMidRunFailsTheNextStepQuickly) {
  const ModelOptions options = tp2_options({kFerrum, "tp-worker"});
  auto files = open_model_files(options.model);
  ASSERT_TRUE(files);
  auto lm = load_tp2(options, *files);
  ASSERT_TRUE(lm) << lm.error().to_string();
  EXPECT_EQ((*lm)->info().tensor_parallel_size, 2u);
  auto state = (*lm)->new_sequence(64);
  ASSERT_TRUE(state);
  const std::vector<uint32_t> prompt = {1, 2, 3, 4};
  ASSERT_TRUE((*lm)->forward(**state, prompt));
  const auto pids = static_cast<TensorParallelCausalLm&>(**lm).worker_pids();
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  const auto killed_at = Clock::now();
  const uint32_t next = 5;
  auto logits = (*lm)->forward(**state, std::span(&next, 1));
  ASSERT_FALSE(logits);
  std::printf("after the kill: %s\n", logits.error().to_string().c_str());
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(5));
  EXPECT_NE(logits.error().message().find("tensor-parallel rank 1"), std::string::npos);
}

TEST(EngineGroup, GreedyStepsPickTheLogitsArgmaxAndHiddenStatesAreRefusedOnRankZeroAlone) {
  const ModelOptions options = tp2_options({kFerrum, "tp-worker"});
  auto files = open_model_files(options.model);
  ASSERT_TRUE(files);
  auto lm = load_tp2(options, *files);
  ASSERT_TRUE(lm) << lm.error().to_string();
  auto greedy_state = (*lm)->new_sequence(64);
  auto logits_state = (*lm)->new_sequence(64);
  ASSERT_TRUE(greedy_state && logits_state);
  std::vector<uint32_t> input = {1, 2, 3, 4};
  std::vector<uint32_t> greedy_tokens;
  for (size_t step = 0; step < 8; ++step) {
    auto picked = (*lm)->forward_greedy(**greedy_state, input);
    ASSERT_TRUE(picked) << picked.error().to_string();
    auto logits = (*lm)->forward(**logits_state, input);
    ASSERT_TRUE(logits) << logits.error().to_string();
    const auto argmax = static_cast<uint32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
    EXPECT_EQ(*picked, argmax) << "step " << step;
    greedy_tokens.push_back(*picked);
    input = {*picked};
  }
  EXPECT_EQ(greedy_tokens.size(), 8u);
  auto hidden = (*lm)->hidden_states(**greedy_state, input);
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().code(), ErrorCode::kUnsupported);
  // Nothing reached the worker, so the group is still in step.
  EXPECT_TRUE((*lm)->forward(**greedy_state, input));
}

}  // namespace
}  // namespace ferrum
