#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub on loopback, for testing `ferrum pull` without a network.

Serves the repos under --root (laid out as ROOT/<org>/<name>/<files>) with the hub's URL scheme:
  GET  /api/models/<org>/<name>/revision/<rev>     -> {"sha": COMMIT, "siblings": [{"rfilename": ...}]}
  HEAD /<org>/<name>/resolve/<rev>/<path>           -> small files: 200 + ETag (git blob id);
                                                      large files: 302 to /cdn/... + X-Linked-Etag (sha256)
  GET  the same, and GET /cdn/<org>/<name>/<path>   -> the bytes, honouring "Range: bytes=N-"
--cut PATH makes the first download of that file stop halfway (connection closed early), so a
client must resume. --token T requires "Authorization: Bearer T" on hub (not CDN) URLs.
Prints "PORT PID" on its first line of stdout once it is listening. Standard library only.
"""
import argparse
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

LARGE_FILE_BYTES = 1024  # files this size or larger are served like git-LFS files


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--commit", required=True)
    parser.add_argument("--cut", default="")
    parser.add_argument("--token", default="")
    parser.add_argument("--log", default="")
    return parser.parse_args()


ARGS = parse_args()
CUT_LOCK = threading.Lock()
CUT_DONE = set()


def repo_dir(org, name):
    return os.path.join(ARGS.root, org, name)


def list_files(org, name):
    base = repo_dir(org, name)
    files = []
    for directory, _, names in os.walk(base):
        for file_name in names:
            files.append(os.path.relpath(os.path.join(directory, file_name), base))
    return sorted(files)


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet; requests go to --log
        pass

    def record(self):
        if ARGS.log:
            with open(ARGS.log, "a") as log:
                log.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-")))

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def authorized(self):
        return not ARGS.token or self.headers.get("Authorization") == "Bearer " + ARGS.token

    def do_HEAD(self):
        self.handle_request()

    def do_GET(self):
        self.handle_request()

    def handle_request(self):
        self.record()
        parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(self.path).path.split("/")[1:]]
        if parts[:1] == ["cdn"] and len(parts) >= 4:
            return self.serve_bytes(parts[1], parts[2], "/".join(parts[3:]))
        if not self.authorized():
            return self.reply(401, b'{"error": "unauthorized"}')
        if parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "revision":
            return self.serve_listing(parts[2], parts[3], parts[5])
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.serve_resolve(parts[0], parts[1], parts[3], "/".join(parts[4:]))
        self.reply(404, b"not found")

    def known_revision(self, org, name, revision):
        return os.path.isdir(repo_dir(org, name)) and revision in ("main", ARGS.commit)

    def serve_listing(self, org, name, revision):
        if not self.known_revision(org, name, revision):
            return self.reply(404, b'{"error": "Revision Not Found"}')
        body = json.dumps({"id": org + "/" + name, "sha": ARGS.commit,
                           "siblings": [{"rfilename": f} for f in list_files(org, name)]}).encode()
        self.reply(200, body, {"Content-Type": "application/json"})

    def serve_resolve(self, org, name, revision, path):
        file_path = os.path.join(repo_dir(org, name), path)
        if not self.known_revision(org, name, revision) or not os.path.isfile(file_path):
            return self.reply(404, b"Entry not found")
        data = open(file_path, "rb").read()
        if len(data) >= LARGE_FILE_BYTES:
            location = "/cdn/%s/%s/%s" % (org, name, urllib.parse.quote(path))
            return self.reply(302, b"", {"Location": location, "X-Repo-Commit": ARGS.commit,
                                         "X-Linked-Etag": '"%s"' % hashlib.sha256(data).hexdigest(),
                                         "X-Linked-Size": str(len(data))})
        self.send_response(200)
        self.send_header("ETag", '"%s"' % git_blob_id(data))
        self.send_header("X-Repo-Commit", ARGS.commit)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def serve_bytes(self, org, name, path):
        file_path = os.path.join(repo_dir(org, name), path)
        if not os.path.isfile(file_path):
            return self.reply(404, b"no such blob")
        data = open(file_path, "rb").read()
        start = 0
        range_header = self.headers.get("Range", "")
        if range_header.startswith("bytes=") and range_header.endswith("-"):
            start = int(range_header[len("bytes="):-1])
            if start >= len(data):
                return self.reply(416, b"", {"Content-Range": "bytes */%d" % len(data)})
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with CUT_LOCK:
            cut = path == ARGS.cut and path not in CUT_DONE
            CUT_DONE.add(path)
        if cut:  # announce every byte, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def exit_with_parent(server):
    """Stops serving when the test that started us is gone, even if it crashed before killing us."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.2)
    server.shutdown()


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=exit_with_parent, args=(server,), daemon=True).start()
    print("%d %d" % (server.server_address[1], os.getpid()), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
