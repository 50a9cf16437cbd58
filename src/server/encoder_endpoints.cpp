// POST /v1/embeddings and /v1/audio/transcriptions (/translations): synchronous model calls made on
// the handler thread, one model call at a time per model.
#include <bit>
#include <cstring>

#include "audio/audio_file.h"
#include "server/api_server.h"
#include "server/http/multipart.h"

namespace ferrum::server {
namespace {

std::string base64(std::span<const uint8_t> bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t a = bytes[i];
    const uint32_t b = i + 1 < bytes.size() ? bytes[i + 1] : 0;
    const uint32_t c = i + 2 < bytes.size() ? bytes[i + 2] : 0;
    const uint32_t triple = (a << 16) | (b << 8) | c;
    out += kAlphabet[(triple >> 18) & 63];
    out += kAlphabet[(triple >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(triple >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[triple & 63] : '=';
  }
  return out;
}

// float32 little-endian bytes, base64: what the SDKs send encoding_format "base64" for and decode.
std::string base64_floats(const std::vector<float>& values) {
  static_assert(std::endian::native == std::endian::little, "embeddings are sent as little-endian float32");
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return base64(bytes);
}

}  // namespace

void ApiServer::handle_embeddings(const http::HttpRequest& request, const Exchange& exchange) {
  constexpr std::string_view kEndpoint = "/v1/embeddings";
  auto body = parse_json_object(request.body);
  if (!body) return reply_error(exchange, kEndpoint, body.error());
  if (auto error = check_model_name(*body)) return reply_error(exchange, kEndpoint, *error);
  if (!model_.embedder) {
    return reply_error(exchange, kEndpoint,
                       invalid_request("the served model does not produce embeddings (serve a BERT or CLIP model)"));
  }
  EmbeddingModel& embedder = *model_.embedder;
  FieldReader fields(*body);
  const std::string encoding = fields.string("encoding_format").value_or("float");
  if (!fields.error() && encoding != "float" && encoding != "base64") {
    fields.fail(invalid_request("'encoding_format' must be float or base64", "encoding_format"));
  }
  if (auto dimensions = fields.integer("dimensions", 1, 1 << 20)) {
    if (static_cast<size_t>(*dimensions) != embedder.dimensions()) {
      fields.fail(invalid_request("this model's embeddings have " + std::to_string(embedder.dimensions()) +
                                      " dimensions; it cannot return " + std::to_string(*dimensions),
                                  "dimensions"));
    }
  }
  const Json* input = fields.any("input");
  if (fields.error()) return reply_error(exchange, kEndpoint, *fields.error());
  if (!input) return reply_error(exchange, kEndpoint, invalid_request("'input' is required", "input"));

  // input: a string, a list of strings, a list of token ids, or a list of such lists.
  std::vector<std::vector<int32_t>> inputs;
  std::optional<ApiError> failure;
  const auto add_text = [&](const std::string& text) {
    if (!embedder.tokenizer()) {
      failure = invalid_request("this model ships no tokenizer.json: send 'input' as token ids", "input");
      return;
    }
    if (text.empty()) {
      failure = invalid_request("'input' strings must not be empty", "input");
      return;
    }
    inputs.push_back(embedder.tokenize(text));
  };
  const auto add_ids = [&](const Json& ids) {
    std::vector<int32_t> tokens;
    for (const Json& id : ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        failure = invalid_request("'input' token ids must be non-negative integers", "input");
        return;
      }
      tokens.push_back(id.get<int32_t>());
    }
    inputs.push_back(std::move(tokens));
  };
  if (input->is_string()) {
    add_text(input->get<std::string>());
  } else if (input->is_array() && !input->empty() && (*input)[0].is_number_integer()) {
    add_ids(*input);
  } else if (input->is_array() && !input->empty() && input->size() <= 2048) {
    for (const Json& entry : *input) {
      if (entry.is_string()) {
        add_text(entry.get<std::string>());
      } else if (entry.is_array()) {
        add_ids(entry);
      } else {
        failure = invalid_request("'input' lists must hold strings or token-id lists", "input");
      }
      if (failure) break;
    }
  } else {
    failure = invalid_request("'input' must be a string, a list of strings or token ids (at most 2048)", "input");
  }
  if (failure) return reply_error(exchange, kEndpoint, *failure);

  Json data = Json::array();
  size_t tokens = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto embedding = embedder.embed(inputs[i]);
    if (!embedding) return reply_error(exchange, kEndpoint, from_error(embedding.error(), "input"));
    tokens += inputs[i].size();
    Json vector = encoding == "base64" ? Json(base64_floats(*embedding)) : Json(*embedding);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(vector)}});
  }
  FieldReader names(*body);
  reply(exchange, kEndpoint, 200,
        {{"object", "list"},
         {"data", std::move(data)},
         {"model", names.string("model").value_or(options_.model_names.front())},
         {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

void ApiServer::handle_transcription(const http::HttpRequest& request, const Exchange& exchange, bool translate) {
  const std::string_view endpoint = translate ? "/v1/audio/translations" : "/v1/audio/transcriptions";
  if (!model_.transcriber) {
    return reply_error(exchange, endpoint,
                       invalid_request("the served model does not transcribe speech (serve Whisper)"));
  }
  const std::string* content_type = request.header("content-type");
  const std::optional<std::string> boundary =
      content_type ? http::header_parameter(*content_type, "boundary") : std::nullopt;
  if (!content_type || !content_type->starts_with("multipart/form-data") || !boundary) {
    ApiError error = invalid_request("send the audio as multipart/form-data with a 'file' field", "file");
    error.status = 415;
    return reply_error(exchange, endpoint, error);
  }
  auto parts = http::parse_multipart(request.body, *boundary);
  if (!parts) return reply_error(exchange, endpoint, invalid_request(parts.error().message(), "file"));
  const http::MultipartPart* file = nullptr;
  Json fields = Json::object();
  for (const http::MultipartPart& part : *parts) {
    if (part.name == "file") {
      file = &part;
    } else {
      fields[part.name] = part.data;
    }
  }
  if (!file) return reply_error(exchange, endpoint, invalid_request("the 'file' field is required", "file"));
  if (auto error = check_model_name(fields)) return reply_error(exchange, endpoint, *error);
  const std::string format = fields.value("response_format", "json");
  if (format != "json" && format != "text" && format != "verbose_json") {
    return reply_error(exchange, endpoint,
                       invalid_request("'response_format' must be json, text or verbose_json", "response_format"));
  }
  if (fields.contains("temperature")) {
    // Decoding is greedy; a sampling temperature would be silently ignored, so refuse it instead.
    const std::string temperature = fields["temperature"].get<std::string>();
    if (temperature.find_first_not_of("0.") != std::string::npos) {
      return reply_error(exchange, endpoint,
                         invalid_request("only temperature 0 (greedy decoding) is supported", "temperature"));
    }
  }
  WhisperTranscribeOptions options;
  options.task = translate ? "translate" : "transcribe";
  if (fields.contains("language")) options.language = fields["language"].get<std::string>();
  if (fields.contains("prompt")) {
    return reply_error(exchange, endpoint, invalid_request("'prompt' is not supported", "prompt"));
  }

  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(file->data.data()), file->data.size());
  auto clip = audio::read_audio_bytes(bytes, "the uploaded file");
  if (!clip) return reply_error(exchange, endpoint, invalid_request(clip.error().message(), "file"));
  auto samples = audio::resample(clip->samples, clip->sample_rate, SpeechTranscriber::kSampleRate);
  if (!samples) return reply_error(exchange, endpoint, from_error(samples.error(), "file"));
  auto transcript = model_.transcriber->transcribe(*samples, options);
  if (!transcript) return reply_error(exchange, endpoint, from_error(transcript.error(), "language"));
  if (!model_.transcriber->tokenizer() && format != "verbose_json") {
    return reply_error(exchange, endpoint,
                       invalid_request("this model ships no tokenizer.json, so it has no text to return; ask for "
                                       "response_format verbose_json to get the token ids",
                                       "response_format"));
  }
  if (format == "text") {
    exchange->respond(200, "text/plain; charset=utf-8", transcript->text + "\n");
    metrics_.count_request(endpoint, 200);
    return;
  }
  if (format == "json") return reply(exchange, endpoint, 200, {{"text", transcript->text}});
  Json segment = {{"id", 0},
                  {"seek", 0},
                  {"start", 0.0},
                  {"end", transcript->duration_seconds},
                  {"text", transcript->text},
                  {"tokens", transcript->tokens},
                  {"temperature", 0.0}};
  reply(exchange, endpoint, 200,
        {{"task", options.task},
         {"language", transcript->language},
         {"duration", transcript->duration_seconds},
         {"text", transcript->text},
         {"segments", Json::array({std::move(segment)})}});
}

}  // namespace ferrum::server
