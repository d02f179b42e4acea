#!/usr/bin/env python3
"""A deliberately broken stand-in for document-proxy, to prove the k6 checks catch what they claim.

    fake-service.py PORT wrong-body    every GET /{id} answers 200 with a PNG body labelled application/pdf

scripts/checks/run delivery runs load-tests/smoke.js against it and expects the run to fail on the
`document_wrong_body` threshold: a magic-byte check that cannot fail would prove nothing.
Serves 127.0.0.1 only and stops by itself after 120 s.
"""
import http.server
import sys
import threading

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, ctype, body):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", "fake")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        path = self.path
        if path in ("/healthz", "/readyz"):
            return self.answer(200, "text/plain", b"ok")
        if path[1:].isdigit():
            return self.answer(200, "application/pdf", PNG)
        return self.answer(404, "application/problem+json", b'{"title":"not found","status":404}')

    do_HEAD = do_GET


def main():
    if len(sys.argv) != 3 or sys.argv[2] != "wrong-body":
        sys.exit("usage: fake-service.py PORT wrong-body")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    threading.Timer(120, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
