#include "formats/http_client.h"

#include <curl/curl.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

namespace ferrum {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
using HeaderList = std::unique_ptr<curl_slist, HeaderListDeleter>;

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

size_t collect_header(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string line(data, size * count);
  // A new status line starts a new response (after a redirect or a 100 Continue).
  if (line.rfind("HTTP/", 0) == 0) headers->clear();
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(value.begin());
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
    (*headers)[lowercase(line.substr(0, colon))] = value;
  }
  return size * count;
}

size_t collect_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct Request {
  CurlHandle curl;
  HeaderList headers;
  // On the heap: curl keeps this address, and a Request moves when it is returned.
  std::unique_ptr<char[]> error = std::make_unique<char[]>(CURL_ERROR_SIZE);
};

Expected<Request> make_request(const std::string& url, const std::string& token) {
  init_curl_once();
  Request request;
  request.curl.reset(curl_easy_init());
  FERRUM_CHECK(request.curl != nullptr, ErrorCode::kInternal, "curl_easy_init failed");
  CURL* curl = request.curl.get();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, request.error.get());
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "ferrum/0.1");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  // Give up on a connection that stalls below 1 KiB/s for a minute; the next pull resumes.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  if (!token.empty()) {
    const std::string header = "Authorization: Bearer " + token;
    request.headers.reset(curl_slist_append(nullptr, header.c_str()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, request.headers.get());
  }
  return request;
}

Error transport_error(CURLcode code, const Request& request, const std::string& url) {
  const char* detail = request.error[0] != '\0' ? request.error.get() : curl_easy_strerror(code);
  return make_error(ErrorCode::kIo, "request to ", url, " failed: ", detail);
}

// State of one file download, shared with libcurl's callbacks.
struct Download {
  std::FILE* file = nullptr;
  const std::filesystem::path* path = nullptr;
  CURL* curl = nullptr;
  uint64_t resume_from = 0;
  uint64_t written = 0;  // bytes in the file
  bool checked_status = false;
  bool write_failed = false;
  const ProgressCallback* progress = nullptr;
  std::chrono::steady_clock::time_point last_report{};
};

size_t write_download(char* data, size_t size, size_t count, void* user) {
  auto* download = static_cast<Download*>(user);
  if (!download->checked_status) {
    download->checked_status = true;
    long status = 0;
    curl_easy_getinfo(download->curl, CURLINFO_RESPONSE_CODE, &status);
    if (download->resume_from > 0 && status == 200) {
      // The server ignored the Range request: start the file over.
      download->file = std::freopen(download->path->c_str(), "wb", download->file);
      download->written = 0;
      if (download->file == nullptr) {
        download->write_failed = true;
        return 0;
      }
    }
  }
  const size_t bytes = size * count;
  if (std::fwrite(data, 1, bytes, download->file) != bytes) {
    download->write_failed = true;
    return 0;
  }
  download->written += bytes;
  return bytes;
}

int report_progress(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* download = static_cast<Download*>(user);
  if (download->progress == nullptr || !*download->progress) return 0;
  const auto time = std::chrono::steady_clock::now();
  if (time - download->last_report < std::chrono::milliseconds(200) && (total == 0 || now < total)) return 0;
  download->last_report = time;
  // curl counts this transfer only; the bytes an earlier attempt stored come first.
  const uint64_t earlier = download->written - std::min<uint64_t>(download->written, static_cast<uint64_t>(now));
  (*download->progress)(download->written, total > 0 ? earlier + static_cast<uint64_t>(total) : 0);
  return 0;
}

}  // namespace

HttpClient::HttpClient(std::string bearer_token) : bearer_token_(std::move(bearer_token)) {}

Expected<HttpResponse> HttpClient::get(const std::string& url) const {
  FERRUM_ASSIGN_OR_RETURN(Request request, make_request(url, bearer_token_));
  HttpResponse response;
  CURL* curl = request.curl.get();
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) return transport_error(code, request, url);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Expected<HttpResponse> HttpClient::head(const std::string& url) const {
  FERRUM_ASSIGN_OR_RETURN(Request request, make_request(url, bearer_token_));
  HttpResponse response;
  CURL* curl = request.curl.get();
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) return transport_error(code, request, url);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Expected<uint64_t> HttpClient::download(const std::string& url, const std::filesystem::path& path,
                                        const ProgressCallback& progress) const {
  FERRUM_ASSIGN_OR_RETURN(Request request, make_request(url, bearer_token_));
  Download download;
  std::error_code size_error;
  const uintmax_t existing = std::filesystem::file_size(path, size_error);
  download.resume_from = size_error ? 0 : static_cast<uint64_t>(existing);
  download.written = download.resume_from;
  download.path = &path;
  download.progress = &progress;
  download.file = std::fopen(path.c_str(), download.resume_from > 0 ? "ab" : "wb");
  if (download.file == nullptr) {
    return make_error(ErrorCode::kIo, "cannot open ", path.string(), " for writing: ", std::strerror(errno));
  }
  CURL* curl = request.curl.get();
  download.curl = curl;
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_download);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &download);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, report_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &download);
  if (download.resume_from > 0) {
    curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(download.resume_from));
  }
  const CURLcode code = curl_easy_perform(curl);
  const bool closed = download.file != nullptr && std::fclose(download.file) == 0;
  if (download.write_failed || (code == CURLE_OK && !closed)) {
    return make_error(ErrorCode::kIo, "cannot write ", path.string(), ": ", std::strerror(errno));
  }
  if (code == CURLE_HTTP_RETURNED_ERROR) {
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    const ErrorCode error_code = status == 404 ? ErrorCode::kNotFound : ErrorCode::kIo;
    return make_error(error_code, "download of ", url, " failed with HTTP ", status);
  }
  if (code != CURLE_OK) {
    return transport_error(code, request, url)
        .with_context(cat("interrupted after ", download.written, " bytes (kept in ", path.string(), ")"));
  }
  return download.written;
}

std::string url_encode_path(std::string_view text, bool keep_slashes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slashes && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace ferrum
