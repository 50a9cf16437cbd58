// `ferrum pull org/name`: downloads a model repository from the Hugging Face hub (or any server
// with its URL scheme) into the standard hub cache, so huggingface_hub and ferrum share downloads.
//   1. GET {endpoint}/api/models/{repo}/revision/{revision}: the commit and the file list.
//   2. For each file (filtered by --include globs): HEAD {endpoint}/{repo}/resolve/{commit}/{file}
//      without following redirects gives the etag (X-Linked-Etag for large files, else ETag).
//   3. A blob already in blobs/<etag> is reused; otherwise GET into blobs/<etag>.incomplete,
//      resuming with a Range request from whatever an interrupted run left, then rename.
//   4. snapshots/<commit>/<file> becomes a relative symlink to the blob; refs/<revision> records
//      the commit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.h"

namespace ferrum {

struct PullOptions {
  std::string repo;  // "org/name"
  std::string revision = "main";
  std::vector<std::string> include;  // shell globs over repo paths ("*.safetensors"); empty: every file
  std::string endpoint;              // empty: $HF_ENDPOINT, else https://huggingface.co
  std::string token;                 // empty: $HF_TOKEN (none when unset)
  std::filesystem::path cache_dir;   // empty: hf_hub_cache_dir()
  std::ostream* progress = nullptr;  // progress bar (the CLI passes std::cerr); null: quiet
  int attempts = 3;                  // tries per file; each retry resumes the partial download
};

struct PullResult {
  std::string commit;
  std::filesystem::path snapshot;  // snapshots/<commit>
  std::vector<std::string> files;  // repo paths now in the snapshot
  uint64_t bytes_downloaded = 0;
};

Expected<PullResult> pull_model(const PullOptions& options);

// fnmatch-style glob where '*' also crosses '/', as the hub's allow_patterns do.
bool hub_glob_match(std::string_view pattern, std::string_view path);

}  // namespace ferrum
