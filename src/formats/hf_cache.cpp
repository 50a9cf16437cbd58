#include "formats/hf_cache.h"

#include <cstdlib>

#include "formats/json_file.h"

namespace ferrum {
namespace {

bool is_repo_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

bool is_valid_part(std::string_view part) {
  if (part.empty() || part.size() > 96 || part == "." || part == ".." || part.find("--") != std::string_view::npos) {
    return false;
  }
  for (char c : part) {
    if (!is_repo_char(c)) return false;
  }
  return true;
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Expected<HfRepoId> parse_hf_repo_id(std::string_view text) {
  const size_t slash = text.find('/');
  HfRepoId repo;
  if (slash == std::string_view::npos) {
    repo.name = std::string(text);
  } else {
    repo.org = std::string(text.substr(0, slash));
    repo.name = std::string(text.substr(slash + 1));
    FERRUM_CHECK(is_valid_part(repo.org), ErrorCode::kInvalidArgument, "'", text,
                 "' is not a Hugging Face repo id (expected org/name)");
  }
  FERRUM_CHECK(is_valid_part(repo.name), ErrorCode::kInvalidArgument, "'", text,
               "' is not a Hugging Face repo id (expected org/name)");
  return repo;
}

bool looks_like_hf_repo_id(std::string_view text) {
  const size_t slash = text.find('/');
  return slash != std::string_view::npos && text.find('/', slash + 1) == std::string_view::npos &&
         parse_hf_repo_id(text).has_value();
}

std::filesystem::path hf_hub_cache_dir() {
  if (std::string hub = env_or_empty("HF_HUB_CACHE"); !hub.empty()) return hub;
  if (std::string home = env_or_empty("HF_HOME"); !home.empty()) return std::filesystem::path(home) / "hub";
  if (std::string xdg = env_or_empty("XDG_CACHE_HOME"); !xdg.empty()) {
    return std::filesystem::path(xdg) / "huggingface" / "hub";
  }
  return std::filesystem::path(env_or_empty("HOME")) / ".cache" / "huggingface" / "hub";
}

std::filesystem::path hf_repo_cache_dir(const std::filesystem::path& cache, const HfRepoId& repo) {
  return cache / ("models--" + (repo.org.empty() ? repo.name : repo.org + "--" + repo.name));
}

bool is_commit_hash(std::string_view revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Expected<std::filesystem::path> resolve_hf_snapshot(const std::filesystem::path& cache, const HfRepoId& repo,
                                                    std::string_view revision) {
  const std::filesystem::path repo_dir = hf_repo_cache_dir(cache, repo);
  std::error_code error;
  FERRUM_CHECK(std::filesystem::is_directory(repo_dir, error), ErrorCode::kNotFound, repo.to_string(),
               " is not in the Hugging Face cache (looked for ", repo_dir.string(), "); run `ferrum pull ",
               repo.to_string(), "`");
  FERRUM_CHECK(!revision.empty() && revision.find("..") == std::string_view::npos, ErrorCode::kInvalidArgument,
               "invalid revision '", revision, "'");
  std::string commit(revision);
  if (!is_commit_hash(revision)) {
    const std::filesystem::path ref = repo_dir / "refs" / revision;
    auto text = read_text_file(ref);
    FERRUM_CHECK(text.has_value(), ErrorCode::kNotFound, repo.to_string(), " has no revision '", revision,
                 "' in the cache (", ref.string(), " is missing)");
    commit = trim(*text);
    FERRUM_CHECK(is_commit_hash(commit), ErrorCode::kParse, ref.string(), " holds '", commit, "', not a commit hash");
  }
  const std::filesystem::path snapshot = repo_dir / "snapshots" / commit;
  FERRUM_CHECK(std::filesystem::is_directory(snapshot, error), ErrorCode::kNotFound, repo.to_string(), " revision '",
               revision, "' points to ", snapshot.string(), ", which does not exist");
  return snapshot;
}

}  // namespace ferrum
