// The Hugging Face hub cache layout, shared with huggingface_hub so models pulled by either tool are
// found by both:
//   <cache>/models--<org>--<name>/blobs/<etag>               file contents, named by the hub's etag
//   <cache>/models--<org>--<name>/snapshots/<commit>/<file>  relative symlinks into blobs/
//   <cache>/models--<org>--<name>/refs/<revision>            the commit a branch or tag pointed to
// <cache> is $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
// ~/.cache/huggingface/hub.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ferrum {

struct HfRepoId {
  std::string org;  // empty for the few legacy repos without an owner ("gpt2")
  std::string name;
  std::string to_string() const { return org.empty() ? name : org + "/" + name; }
};

// Parses "org/name" (or a bare legacy "name"); rejects empty parts, "..", and characters the hub
// does not allow in repo ids.
Expected<HfRepoId> parse_hf_repo_id(std::string_view text);
// True when `text` has the shape of "org/name" (used to tell repo ids from paths).
bool looks_like_hf_repo_id(std::string_view text);

std::filesystem::path hf_hub_cache_dir();
// <cache>/models--org--name
std::filesystem::path hf_repo_cache_dir(const std::filesystem::path& cache, const HfRepoId& repo);
// True for a 40-hex-digit git commit id.
bool is_commit_hash(std::string_view revision);

// The snapshot directory of `repo` at `revision` (a branch/tag resolved through refs/, or a commit).
// kNotFound, naming the directories looked at, when the model has not been pulled.
Expected<std::filesystem::path> resolve_hf_snapshot(const std::filesystem::path& cache, const HfRepoId& repo,
                                                    std::string_view revision = "main");

}  // namespace ferrum
