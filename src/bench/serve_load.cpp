#include "bench/serve_load.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/stats.h"
#include "formats/http_client.h"
#include "synth/tensor_content.h"

namespace ferrum::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Short, common English words: each is a single token (with its leading space) in the Llama 3,
// Qwen and Mistral tokenizers, so N words make a prompt of about N tokens.
constexpr const char* kWords[] = {
    "the",   "of",    "and",    "to",    "in",     "is",     "was",   "for",   "on",    "that",   "with",  "as",
    "by",    "at",    "from",   "his",   "her",    "an",     "they",  "which", "or",    "one",    "had",   "are",
    "but",   "not",   "this",   "have",  "first",  "new",    "were",  "been",  "their", "has",    "two",   "also",
    "all",   "who",   "more",   "time",  "would",  "city",   "when",  "year",  "other", "after",  "world", "game",
    "can",   "some",  "most",   "made",  "over",   "part",   "later", "where", "many",  "used",   "such",  "war",
    "state", "three", "only",   "film",  "then",   "team",   "known", "being", "both",  "series", "early", "may",
    "under", "while", "school", "began", "season", "during", "album", "life",  "house", "water",  "light", "music",
    "small", "group", "place",  "power", "story",  "right",  "large", "north", "south", "line",   "well",  "area",
    "river", "work",  "local",  "name",  "back",   "long",   "order", "great", "high",  "last",   "like",  "days",
};

std::string api_base(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (!url.ends_with("/v1")) url += "/v1";
  return url;
}

struct StreamState {
  OpenAiApi api = OpenAiApi::kCompletions;
  SseParser parser;
  std::vector<Clock::time_point> text_times;
  std::optional<size_t> prompt_tokens;
  std::optional<size_t> completion_tokens;
  std::optional<std::string> stream_error;
  std::string head;  // the first bytes of the body, for error messages
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* state = static_cast<StreamState*>(user);
  const Clock::time_point now = Clock::now();
  const std::string_view bytes(data, size * count);
  if (state->head.size() < 1024) state->head.append(bytes.substr(0, 1024 - state->head.size()));
  state->parser.feed(bytes, [&](std::string_view event) {
    OpenAiChunk chunk = read_openai_chunk(event, state->api);
    if (chunk.error && !state->stream_error) state->stream_error = std::move(chunk.error);
    if (!chunk.text.empty()) state->text_times.push_back(now);
    if (chunk.prompt_tokens) state->prompt_tokens = chunk.prompt_tokens;
    if (chunk.completion_tokens) state->completion_tokens = chunk.completion_tokens;
  });
  return size * count;
}

std::string request_body(const ServeBenchConfig& config, const std::string& model, const std::string& prompt) {
  nlohmann::ordered_json body;
  if (!model.empty()) body["model"] = model;
  if (config.api == OpenAiApi::kCompletions) {
    body["prompt"] = prompt;
  } else {
    body["messages"] = {{{"role", "user"}, {"content", prompt}}};
  }
  body["max_tokens"] = config.output_len;
  body["temperature"] = 0.0;
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  if (config.ignore_eos) body["ignore_eos"] = true;
  return body.dump();
}

// One streaming request on a worker's handle (kept between requests so connections are reused).
RequestRecord send_request(CURL* curl, const ServeBenchConfig& config, const std::string& endpoint,
                           const std::string& body) {
  StreamState state;
  state.api = config.api;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: text/event-stream");
  const std::string authorization = "Authorization: Bearer " + config.api_key;
  if (!config.api_key.empty()) headers = curl_slist_append(headers, authorization.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, endpoint.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(config.request_timeout_s * 1000));
  const Clock::time_point start = Clock::now();
  const CURLcode code = curl_easy_perform(curl);
  const Clock::time_point end = Clock::now();
  curl_slist_free_all(headers);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);

  RequestRecord record;
  record.e2e_s = std::chrono::duration<double>(end - start).count();
  if (code != CURLE_OK) {
    record.error = std::string("transport: ") + curl_easy_strerror(code);
  } else if (status != 200) {
    record.error = "HTTP " + std::to_string(status) + ": " + state.head.substr(0, 200);
  } else if (state.stream_error) {
    record.error = "server error: " + *state.stream_error;
  } else if (state.text_times.empty()) {
    record.error = "the stream carried no generated text";
  }
  if (!record.error.empty()) return record;
  record.ok = true;
  record.ttft_s = std::chrono::duration<double>(state.text_times.front() - start).count();
  for (size_t i = 1; i < state.text_times.size(); ++i) {
    record.itl_s.push_back(std::chrono::duration<double>(state.text_times[i] - state.text_times[i - 1]).count());
  }
  record.usage_reported = state.completion_tokens.has_value();
  record.output_tokens = state.completion_tokens.value_or(state.text_times.size());
  record.prompt_tokens = state.prompt_tokens.value_or(0);
  return record;
}

LatencySummary summarise(const std::vector<double>& seconds) {
  LatencySummary summary;
  if (seconds.empty()) return summary;
  summary.mean_ms = mean(seconds) * 1000;
  summary.p50_ms = percentile(seconds, 50) * 1000;
  summary.p95_ms = percentile(seconds, 95) * 1000;
  summary.p99_ms = percentile(seconds, 99) * 1000;
  return summary;
}

Expected<std::string> discover_model(const std::string& base, const std::string& api_key) {
  HttpClient client(api_key);
  FERRUM_ASSIGN_OR_RETURN(HttpResponse response, client.get(base + "/models"));
  FERRUM_CHECK(response.status == 200, ErrorCode::kNotFound, "GET ", base, "/models answered HTTP ", response.status,
               ": pass --model");
  const nlohmann::json json = nlohmann::json::parse(response.body, nullptr, false);
  FERRUM_CHECK(!json.is_discarded() && json.contains("data") && json["data"].is_array() && !json["data"].empty() &&
                   json["data"][0].contains("id"),
               ErrorCode::kParse, "GET ", base, "/models listed no model: pass --model");
  return json["data"][0]["id"].get<std::string>();
}

std::string sized_prompt(const ServeBenchConfig& config, uint64_t index) {
  if (!config.count_tokens) return make_prompt(config.input_len, config.seed, index);
  size_t words = config.input_len;
  std::string prompt = make_prompt(words, config.seed, index);
  size_t tokens = config.count_tokens(prompt);
  while (tokens < config.input_len) {
    prompt = make_prompt(++words, config.seed, index);
    tokens = config.count_tokens(prompt);
  }
  while (tokens > config.input_len && words > 1) {
    prompt = make_prompt(--words, config.seed, index);
    tokens = config.count_tokens(prompt);
  }
  return prompt;
}

ServeLevelResult run_level(const ServeBenchConfig& config, const std::string& endpoint, const std::string& model,
                           size_t concurrency, size_t requests, uint64_t first_index) {
  std::vector<std::string> bodies;
  for (size_t i = 0; i < requests; ++i)
    bodies.push_back(request_body(config, model, sized_prompt(config, first_index + i)));
  std::vector<RequestRecord> records(requests);
  std::atomic<size_t> next{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> workers;
  for (size_t worker = 0; worker < std::min(concurrency, requests); ++worker) {
    workers.emplace_back([&] {
      CURL* curl = curl_easy_init();
      for (size_t i = next++; i < requests; i = next++) {
        if (curl == nullptr) {
          records[i].error = "curl_easy_init failed";
          continue;
        }
        records[i] = send_request(curl, config, endpoint, bodies[i]);
      }
      if (curl != nullptr) curl_easy_cleanup(curl);
    });
  }
  for (std::thread& worker : workers) worker.join();
  const double duration = std::chrono::duration<double>(Clock::now() - start).count();
  return summarise_level(concurrency, records, duration);
}

}  // namespace

std::string make_prompt(size_t words, uint64_t seed, size_t index) {
  synth::SplitMix64 random(seed * 0x9e3779b97f4a7c15ull + index + 1);
  constexpr size_t kWordCount = sizeof kWords / sizeof kWords[0];
  std::string prompt;
  for (size_t i = 0; i < words; ++i) {
    if (i > 0) prompt += ' ';
    prompt += kWords[random.next() % kWordCount];
  }
  return prompt;
}

ServeLevelResult summarise_level(size_t concurrency, const std::vector<RequestRecord>& records, double duration_s) {
  ServeLevelResult level;
  level.concurrency = concurrency;
  level.requests = records.size();
  level.duration_s = duration_s;
  level.usage_reported = true;
  std::vector<double> ttft, tpot, itl, e2e;
  for (const RequestRecord& record : records) {
    if (!record.ok) {
      ++level.failed;
      if (level.error_samples.size() < 5 && std::find(level.error_samples.begin(), level.error_samples.end(),
                                                      record.error) == level.error_samples.end()) {
        level.error_samples.push_back(record.error);
      }
      continue;
    }
    ++level.completed;
    level.prompt_tokens += record.prompt_tokens;
    level.output_tokens += record.output_tokens;
    level.usage_reported = level.usage_reported && record.usage_reported;
    ttft.push_back(record.ttft_s);
    e2e.push_back(record.e2e_s);
    if (record.output_tokens > 1) {
      tpot.push_back((record.e2e_s - record.ttft_s) / static_cast<double>(record.output_tokens - 1));
    }
    itl.insert(itl.end(), record.itl_s.begin(), record.itl_s.end());
  }
  if (level.completed == 0) level.usage_reported = false;
  if (duration_s > 0) {
    level.request_throughput = static_cast<double>(level.completed) / duration_s;
    level.output_token_throughput = static_cast<double>(level.output_tokens) / duration_s;
    level.total_token_throughput = static_cast<double>(level.prompt_tokens + level.output_tokens) / duration_s;
  }
  level.ttft = summarise(ttft);
  level.tpot = summarise(tpot);
  level.itl = summarise(itl);
  level.e2e = summarise(e2e);
  return level;
}

Expected<ServeBenchResult> run_serve_bench(const ServeBenchConfig& config, const ServeProgress& progress) {
  FERRUM_CHECK(!config.url.empty(), ErrorCode::kInvalidArgument, "--url is required");
  FERRUM_CHECK(!config.concurrency.empty(), ErrorCode::kInvalidArgument, "-c: no concurrency levels");
  FERRUM_CHECK(config.input_len > 0 && config.output_len > 0, ErrorCode::kInvalidArgument,
               "--input-len and --output-len must be positive");
  curl_global_init(CURL_GLOBAL_DEFAULT);
  ServeBenchResult result;
  const std::string base = api_base(config.url);
  result.endpoint = base + (config.api == OpenAiApi::kCompletions ? "/completions" : "/chat/completions");
  result.model = config.model;
  if (result.model.empty()) {
    auto discovered = discover_model(base, config.api_key);
    if (!discovered) return std::move(discovered).error().with_context("finding the served model");
    result.model = *discovered;
  }
  if (config.warmup_requests > 0) {
    if (progress) progress("warm-up: " + std::to_string(config.warmup_requests) + " request(s)");
    // Warm-up prompts come from their own index range; failures here surface in the first level.
    run_level(config, result.endpoint, result.model, 1, config.warmup_requests, uint64_t{1} << 40);
  }
  uint64_t first_index = 0;
  for (size_t concurrency : config.concurrency) {
    FERRUM_CHECK(concurrency > 0, ErrorCode::kInvalidArgument, "-c: concurrency must be at least 1");
    const size_t requests = config.num_prompts ? config.num_prompts : std::max<size_t>(16, 4 * concurrency);
    if (progress) {
      progress("concurrency " + std::to_string(concurrency) + ": " + std::to_string(requests) + " requests");
    }
    result.levels.push_back(run_level(config, result.endpoint, result.model, concurrency, requests, first_index));
    first_index += requests;
  }
  return result;
}

}  // namespace ferrum::bench
