#include "formats/hub_pull.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <optional>
#include <sstream>

#include "formats/hf_cache.h"
#include "formats/http_client.h"
#include "formats/json_file.h"

namespace ferrum {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? std::string(value) : fallback;
}

// Paths from the server become file names here: no absolute paths, no "..", no empty parts.
bool is_safe_repo_path(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\\') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// An etag names a blob file: keep it to characters that are safe in a file name.
Expected<std::string> clean_etag(std::string etag, const std::string& file) {
  if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  const bool safe = !etag.empty() && etag.size() <= 128 && std::all_of(etag.begin(), etag.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  FERRUM_CHECK(safe, ErrorCode::kParse, "the hub gave ", file, " an unusable etag '", etag, "'");
  return etag;
}

Error http_error(const HttpResponse& response, const std::string& what, const std::string& url) {
  if (response.status == 401 || response.status == 403) {
    return make_error(ErrorCode::kInvalidArgument, what, ": HTTP ", response.status, " from ", url,
                      " (a gated or private repo needs HF_TOKEN)");
  }
  const ErrorCode code = response.status == 404 ? ErrorCode::kNotFound : ErrorCode::kIo;
  return make_error(code, what, ": HTTP ", response.status, " from ", url);
}

struct RepoListing {
  std::string commit;
  std::vector<std::string> files;
};

Expected<RepoListing> list_repo(const HttpClient& http, const std::string& endpoint, const HfRepoId& repo,
                                const std::string& revision) {
  const std::string url =
      endpoint + "/api/models/" + repo.to_string() + "/revision/" + url_encode_path(revision, false);
  FERRUM_ASSIGN_OR_RETURN(const HttpResponse response, http.get(url));
  if (response.status != 200) return http_error(response, cat("listing ", repo.to_string(), "@", revision), url);
  FERRUM_ASSIGN_OR_RETURN(const nlohmann::json json, parse_json(response.body, url));
  FERRUM_CHECK(json.is_object() && json.contains("sha") && json["sha"].is_string(), ErrorCode::kParse, url,
               ": no \"sha\" in the listing");
  RepoListing listing;
  listing.commit = json["sha"].get<std::string>();
  FERRUM_CHECK(is_commit_hash(listing.commit), ErrorCode::kParse, url, ": \"sha\" is '", listing.commit,
               "', not a commit hash");
  FERRUM_CHECK(json.contains("siblings") && json["siblings"].is_array(), ErrorCode::kParse, url,
               ": no \"siblings\" in the listing");
  for (const nlohmann::json& sibling : json["siblings"]) {
    FERRUM_CHECK(sibling.is_object() && sibling.contains("rfilename") && sibling["rfilename"].is_string(),
                 ErrorCode::kParse, url, ": a sibling has no \"rfilename\"");
    const std::string name = sibling["rfilename"].get<std::string>();
    FERRUM_CHECK(is_safe_repo_path(name), ErrorCode::kParse, url, ": refusing file name '", name, "'");
    listing.files.push_back(name);
  }
  return listing;
}

// Draws "name  [=====>    ]  45%  12.3/27.0 MiB  5.1 MiB/s" on one line.
class ProgressBar {
 public:
  ProgressBar(std::ostream* out, std::string label) : out_(out), label_(std::move(label)) {}

  void update(uint64_t done, uint64_t total) {
    if (out_ == nullptr) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double mib = 1024.0 * 1024.0;
    std::ostringstream line;
    line << "\r" << label_ << "  ";
    if (total > 0) {
      const int width = 24;
      const int filled =
          static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total));
      line << "[" << std::string(static_cast<size_t>(std::min(filled, width)), '=')
           << std::string(static_cast<size_t>(width - std::min(filled, width)), ' ') << "] " << std::setw(3)
           << done * 100 / total << "%  ";
    }
    line << std::fixed << std::setprecision(1) << static_cast<double>(done) / mib;
    if (total > 0) line << "/" << static_cast<double>(total) / mib;
    line << " MiB";
    if (seconds > 0.5) line << "  " << static_cast<double>(done) / mib / seconds << " MiB/s";
    *out_ << line.str() << std::flush;
  }
  void finish(std::string_view note) {
    if (out_ != nullptr) *out_ << "\r" << label_ << "  " << note << "\x1b[K\n" << std::flush;
  }

 private:
  std::ostream* out_;
  std::string label_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

Status link_into_snapshot(const std::filesystem::path& snapshot, const std::string& file, const std::string& etag) {
  const std::filesystem::path link = snapshot / file;
  std::error_code error;
  std::filesystem::create_directories(link.parent_path(), error);
  if (error) return make_error(ErrorCode::kIo, "cannot create ", link.parent_path().string(), ": ", error.message());
  // snapshots/<commit>/a/b.json -> ../../../blobs/<etag>: one ".." per directory below the repo dir.
  std::filesystem::path target;
  const auto depth = std::count(file.begin(), file.end(), '/') + 2;
  for (int i = 0; i < depth; ++i) target /= "..";
  target = target / "blobs" / etag;
  std::filesystem::remove(link, error);
  std::filesystem::create_symlink(target, link, error);
  if (error)
    return make_error(ErrorCode::kIo, "cannot link ", link.string(), " to ", target.string(), ": ", error.message());
  return ok();
}

Status write_ref(const std::filesystem::path& repo_dir, const std::string& revision, const std::string& commit) {
  const std::filesystem::path ref = repo_dir / "refs" / revision;
  std::error_code error;
  std::filesystem::create_directories(ref.parent_path(), error);
  std::ofstream out(ref, std::ios::trunc);
  out << commit;
  FERRUM_CHECK(out.good(), ErrorCode::kIo, "cannot write ", ref.string());
  return ok();
}

uint64_t file_size_or_zero(const std::filesystem::path& path) {
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(path, error);
  return error ? 0 : static_cast<uint64_t>(size);
}

struct FileTarget {
  std::string etag;
  std::optional<uint64_t> size;
};

Expected<FileTarget> probe_file(const HttpClient& http, const std::string& url, const std::string& file) {
  FERRUM_ASSIGN_OR_RETURN(const HttpResponse response, http.head(url));
  if (response.status >= 400) return http_error(response, cat("looking up ", file), url);
  auto header = [&](const char* name) -> std::string {
    auto it = response.headers.find(name);
    return it == response.headers.end() ? "" : it->second;
  };
  // Large (LFS) files redirect to storage and name their content hash in X-Linked-Etag.
  std::string etag = header("x-linked-etag");
  std::string size = header("x-linked-size");
  if (etag.empty()) {
    etag = header("etag");
    size = response.status == 200 ? header("content-length") : "";
  }
  FERRUM_CHECK(!etag.empty(), ErrorCode::kParse, "the hub sent no etag for ", file, " (", url, ")");
  FileTarget target;
  FERRUM_ASSIGN_OR_RETURN(target.etag, clean_etag(etag, file));
  uint64_t bytes = 0;
  const auto [end, parse_error] = std::from_chars(size.data(), size.data() + size.size(), bytes);
  if (!size.empty() && parse_error == std::errc() && end == size.data() + size.size()) target.size = bytes;
  return target;
}

Expected<uint64_t> fetch_blob(const HttpClient& http, const std::string& url, const std::filesystem::path& blob,
                              const FileTarget& target, const PullOptions& options, const std::string& file) {
  std::filesystem::path partial = blob;
  partial += ".incomplete";
  ProgressBar bar(options.progress, file);
  std::error_code error;
  uint64_t before = file_size_or_zero(partial);
  if (target.size && before > *target.size) {  // a stale partial file longer than the blob: start over
    std::filesystem::remove(partial, error);
    before = 0;
  }
  // Exists from here on, so an empty file needs no request and still has something to rename.
  std::ofstream(partial, std::ios::app | std::ios::binary);
  uint64_t stored = before;
  for (int attempt = 1;; ++attempt) {
    if (target.size && stored == *target.size) break;  // an earlier run got every byte
    auto downloaded = http.download(url, partial, [&bar](uint64_t done, uint64_t total) { bar.update(done, total); });
    if (downloaded) {
      stored = *downloaded;
      break;
    }
    if (downloaded.error().code() != ErrorCode::kIo || attempt >= options.attempts) {
      bar.finish("failed");
      return std::move(downloaded).error().with_context(cat("downloading ", file));
    }
    bar.finish(cat("interrupted, resuming (attempt ", attempt + 1, " of ", options.attempts, ")"));
    stored = file_size_or_zero(partial);
  }
  if (target.size && stored != *target.size) {
    return make_error(ErrorCode::kIo, "downloading ", file, ": got ", stored, " bytes, the hub announced ",
                      *target.size, " (kept in ", partial.string(), "; pull again to resume)");
  }
  std::filesystem::rename(partial, blob, error);
  if (error) return make_error(ErrorCode::kIo, "cannot rename ", partial.string(), ": ", error.message());
  bar.finish("done");
  return stored >= before ? stored - before : stored;
}

}  // namespace

bool hub_glob_match(std::string_view pattern, std::string_view path) {
  return fnmatch(std::string(pattern).c_str(), std::string(path).c_str(), 0) == 0;
}

Expected<PullResult> pull_model(const PullOptions& options) {
  FERRUM_ASSIGN_OR_RETURN(const HfRepoId repo, parse_hf_repo_id(options.repo));
  FERRUM_CHECK(!options.revision.empty() && options.revision.find("..") == std::string::npos,
               ErrorCode::kInvalidArgument, "invalid revision '", options.revision, "'");
  std::string endpoint = options.endpoint.empty() ? env_or("HF_ENDPOINT", "https://huggingface.co") : options.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const HttpClient http(options.token.empty() ? env_or("HF_TOKEN", "") : options.token);
  const std::filesystem::path cache = options.cache_dir.empty() ? hf_hub_cache_dir() : options.cache_dir;
  const std::filesystem::path repo_dir = hf_repo_cache_dir(cache, repo);

  FERRUM_ASSIGN_OR_RETURN(const RepoListing listing, list_repo(http, endpoint, repo, options.revision));
  PullResult result;
  result.commit = listing.commit;
  result.snapshot = repo_dir / "snapshots" / listing.commit;
  std::error_code error;
  std::filesystem::create_directories(repo_dir / "blobs", error);
  if (error) return make_error(ErrorCode::kIo, "cannot create ", (repo_dir / "blobs").string(), ": ", error.message());
  std::filesystem::create_directories(result.snapshot, error);

  for (const std::string& file : listing.files) {
    const bool wanted =
        options.include.empty() || std::any_of(options.include.begin(), options.include.end(),
                                               [&](const auto& glob) { return hub_glob_match(glob, file); });
    if (!wanted) continue;
    const std::string url =
        endpoint + "/" + repo.to_string() + "/resolve/" + listing.commit + "/" + url_encode_path(file, true);
    FERRUM_ASSIGN_OR_RETURN(const FileTarget target, probe_file(http, url, file));
    const std::filesystem::path blob = repo_dir / "blobs" / target.etag;
    if (!std::filesystem::exists(blob, error)) {
      FERRUM_ASSIGN_OR_RETURN(const uint64_t downloaded, fetch_blob(http, url, blob, target, options, file));
      result.bytes_downloaded += downloaded;
    } else if (options.progress != nullptr) {
      *options.progress << file << "  already in the cache\n";
    }
    FERRUM_TRY(link_into_snapshot(result.snapshot, file, target.etag));
    result.files.push_back(file);
  }
  FERRUM_CHECK(!result.files.empty(), ErrorCode::kNotFound, repo.to_string(), "@", options.revision,
               " has no files matching the --include patterns");
  if (options.revision != listing.commit) FERRUM_TRY(write_ref(repo_dir, options.revision, listing.commit));
  return result;
}

}  // namespace ferrum
