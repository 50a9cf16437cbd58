#!/usr/bin/env python3
"""A stand-in for an OpenAI-compatible inference server on loopback, for testing `ferrum bench-serve`
without a model.

  GET  /v1/models                 -> {"data": [{"id": MODEL}]}
  POST /v1/completions            -> streamed (SSE) "text" chunks, one per token
  POST /v1/chat/completions       -> streamed (SSE) "delta" chunks, one per token
Each request streams max_tokens chunks (or --eos-after tokens when it does not ask for ignore_eos),
--first-token-ms after the request and --token-ms apart, then a usage chunk when
stream_options.include_usage is set, then "data: [DONE]". prompt_tokens is the number of
space-separated words of the prompt. --fail-every N answers every Nth request with HTTP 500;
--api-key K requires "Authorization: Bearer K". Logs one JSON line per request to --log.
Prints "PORT PID" on its first line of stdout once it is listening. Standard library only.
"""
import argparse
import http.server
import json
import os
import socket
import sys
import threading
import time


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--first-token-ms", type=float, default=20.0)
    parser.add_argument("--token-ms", type=float, default=5.0)
    parser.add_argument("--eos-after", type=int, default=3)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--api-key", default="")
    parser.add_argument("--log", default="")
    return parser.parse_args()


ARGS = parse_args()
LOCK = threading.Lock()
COUNTER = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Without this, Nagle's algorithm holds small chunks back and batches the stream.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if not ARGS.api_key:
            return True
        if self.headers.get("Authorization") == "Bearer " + ARGS.api_key:
            return True
        self.send_json(401, {"error": {"message": "bad api key"}})
        return False

    def do_GET(self):
        if not self.authorized():
            return
        if self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [{"id": ARGS.model, "object": "model"}]})
        else:
            self.send_json(404, {"error": {"message": "no route " + self.path}})

    def chunk(self, payload):
        data = ("data: " + payload + "\n\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.authorized():
            return
        chat = self.path == "/v1/chat/completions"
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self.send_json(404, {"error": {"message": "no route " + self.path}})
            return
        with LOCK:
            COUNTER[0] += 1
            number = COUNTER[0]
        if ARGS.log:
            with LOCK, open(ARGS.log, "a") as log:
                log.write(json.dumps({"path": self.path, "body": body, "number": number}) + "\n")
        if ARGS.fail_every and number % ARGS.fail_every == 0:
            self.send_json(500, {"error": {"message": "injected failure %d" % number}})
            return
        if body.get("model") != ARGS.model:
            self.send_json(404, {"error": {"message": "unknown model %r" % body.get("model")}})
            return
        prompt = body["messages"][-1]["content"] if chat else body.get("prompt", "")
        prompt_tokens = len(prompt.split())
        max_tokens = int(body.get("max_tokens", 16))
        tokens = max_tokens if body.get("ignore_eos") else min(max_tokens, ARGS.eos_after)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        time.sleep(ARGS.first_token_ms / 1000.0)
        for i in range(tokens):
            if i > 0:
                time.sleep(ARGS.token_ms / 1000.0)
            text = " tok%d" % i
            if chat:
                choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
            else:
                choice = {"index": 0, "text": text, "finish_reason": None}
            self.chunk(json.dumps({"id": "x", "object": "chunk", "choices": [choice]}))
        if body.get("stream_options", {}).get("include_usage"):
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                     "total_tokens": prompt_tokens + tokens}
            self.chunk(json.dumps({"id": "x", "object": "chunk", "choices": [], "usage": usage}))
        self.chunk("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def exit_with_parent():
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=exit_with_parent, daemon=True).start()
    print(server.server_address[1], os.getpid(), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
