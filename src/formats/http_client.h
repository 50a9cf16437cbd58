// The few HTTP operations `ferrum pull` needs, over libcurl: a GET into memory, a HEAD that reports
// headers without following redirects, and a resumable GET into a file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace ferrum {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names; the last response's headers
  std::string body;
};

// Called with (bytes received so far, total bytes or 0 when unknown), at most a few times a second.
using ProgressCallback = std::function<void(uint64_t done, uint64_t total)>;

class HttpClient {
 public:
  // `bearer_token`, when not empty, is sent as "Authorization: Bearer ..." (libcurl keeps custom
  // headers off other hosts a redirect leads to).
  explicit HttpClient(std::string bearer_token = "");

  // Any status is returned as a response; only transport failures are errors.
  Expected<HttpResponse> get(const std::string& url) const;
  Expected<HttpResponse> head(const std::string& url) const;

  // Downloads `url` (following redirects) into `path`. When `path` already holds bytes, asks for
  // the rest with a Range request and appends; a server that answers 200 instead gets the file
  // rewritten from the start. Returns the bytes the file holds afterwards. An interrupted
  // transfer is an error that leaves the partial file for the next call to resume.
  Expected<uint64_t> download(const std::string& url, const std::filesystem::path& path,
                              const ProgressCallback& progress) const;

 private:
  std::string bearer_token_;
};

// Percent-encodes a URL path, keeping '/' separators when `keep_slashes` is set.
std::string url_encode_path(std::string_view text, bool keep_slashes);

}  // namespace ferrum
