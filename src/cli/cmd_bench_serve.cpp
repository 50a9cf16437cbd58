// `ferrum bench-serve`: load-tests an OpenAI-compatible server (src/bench/serve_load.h describes
// what is measured and how).
#include <cstdio>
#include <fstream>

#include "bench/list_flags.h"
#include "bench/serve_load.h"
#include "bench/serve_report.h"
#include "bench/system_info.h"
#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "engine/model_aliases.h"
#include "tokenizer/loader.h"

namespace ferrum::cli {

int run_bench_serve(int argc, char** argv) {
  return report_errors("bench-serve", [&]() -> Status {
    bench::ServeBenchConfig config;
    std::string concurrency = "1,4,16,64";
    std::string endpoint = "completions";
    std::string output = "md";
    std::optional<std::string> output_file;
    std::optional<std::string> json_file;
    std::optional<std::string> tokenizer_model;
    bool keep_eos = false;
    ArgParser parser("ferrum bench-serve", "--url URL [options]");
    parser.option("--url", &config.url, "the server, e.g. http://127.0.0.1:8080 (with or without /v1)");
    parser.option("-c,--concurrency", &concurrency, "requests in flight, comma-separated levels (default 1,4,16,64)");
    parser.option("--input-len", &config.input_len, "prompt tokens per request (default 256)");
    parser.option("--output-len", &config.output_len, "tokens to generate per request (default 128)");
    parser.option("--num-prompts", &config.num_prompts, "requests per level (default 4 x concurrency, at least 16)");
    parser.option("--endpoint", &endpoint, "completions (default) or chat");
    parser.option("--model", &config.model, "the request's model field (default: the first of GET /v1/models)");
    parser.option("--api-key", &config.api_key, "sent as Authorization: Bearer KEY");
    parser.option("--tokenizer", &tokenizer_model,
                  "a model whose tokenizer sizes prompts exactly (default: one common word per token)");
    parser.option("--warmup", &config.warmup_requests, "untimed requests before the first level (default 1)");
    parser.option("--timeout", &config.request_timeout_s, "seconds one request may take (default 600)");
    parser.option("--seed", &config.seed, "seed of the random prompts (default 0)");
    parser.flag("--no-ignore-eos", &keep_eos, "let requests stop at EOS (for servers that reject ignore_eos)");
    parser.option("-o,--output", &output, "md (default) or json");
    parser.option("--output-file", &output_file, "write the report here instead of stdout");
    parser.option("--json-file", &json_file, "also write the JSON report here");
    FERRUM_TRY(parser.parse(argc, argv));
    if (parser.help_requested()) {
      std::fputs(parser.usage().c_str(), stdout);
      return ok();
    }
    FERRUM_CHECK(endpoint == "completions" || endpoint == "chat", ErrorCode::kInvalidArgument, "--endpoint: '",
                 endpoint, "' is not completions or chat");
    FERRUM_CHECK(output == "md" || output == "json", ErrorCode::kInvalidArgument, "-o: '", output,
                 "' is not md or json");
    config.api = endpoint == "chat" ? bench::OpenAiApi::kChatCompletions : bench::OpenAiApi::kCompletions;
    config.ignore_eos = !keep_eos;
    FERRUM_ASSIGN_OR_RETURN(config.concurrency, bench::parse_size_list("-c", concurrency));
    std::shared_ptr<tokenizer::Tokenizer> tokenizer;
    if (tokenizer_model) {
      FERRUM_ASSIGN_OR_RETURN(std::string path, resolve_model_spec(*tokenizer_model));
      FERRUM_ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> loaded, tokenizer::load_tokenizer(path));
      tokenizer = std::move(loaded);
      config.count_tokens = [tokenizer](const std::string& text) {
        return tokenizer->encode(text, {.add_special = false, .parse_special = false}).size();
      };
    }
    FERRUM_ASSIGN_OR_RETURN(bench::SystemInfo client, bench::describe_system("cpu"));
    FERRUM_ASSIGN_OR_RETURN(bench::ServeBenchResult result, bench::run_serve_bench(config, [](const std::string& line) {
                              std::fprintf(stderr, "bench-serve: %s\n", line.c_str());
                            }));
    const std::string json = bench::serve_report_json(config, result, client).dump(2) + "\n";
    const std::string text = output == "json" ? json : bench::serve_report_markdown(config, result, client);
    if (json_file) {
      std::ofstream file(*json_file, std::ios::binary);
      file << json;
      FERRUM_CHECK(file.good(), ErrorCode::kIo, "cannot write ", *json_file);
    }
    if (output_file) {
      std::ofstream file(*output_file, std::ios::binary);
      file << text;
      FERRUM_CHECK(file.good(), ErrorCode::kIo, "cannot write ", *output_file);
    } else {
      std::fputs(text.c_str(), stdout);
    }
    return ok();
  });
}

}  // namespace ferrum::cli
