"""A signing service that misbehaves on purpose, for keyless_guard.rs.

    python3 misbehaving_service.py PORT DIR [TLS_DIR]

With TLS_DIR (make_cert.py's output), it speaks HTTPS with TLS_DIR/server.pem.
Every request (GET or POST) is appended to DIR/hits-PORT, and answered by the first path
segment:

  /ready            200 "ok"
  /redirect/...     307 to http://127.0.0.1:<DIR/redirect-to>/api/v2/signingCert
  /drip/...         200, Content-Length 1000, then one byte every 0.3 s
  /big/...          200 with a Content-Length of 2 MiB + 1, then that many bytes
  /stream/...       200 without a Content-Length, 2 MiB + 1 bytes until the connection closes
  /echo/...         400 quoting the request's body and its Authorization credential
  /garbage/...      200 "not json"
  /file/NAME/...    200 with the bytes of DIR/NAME
  anything else     500
"""
import http.server
import os
import sys
import time

PORT = int(sys.argv[1])
DIR = sys.argv[2]
BIG = 2 * 1024 * 1024 + 1


class Handler(http.server.BaseHTTPRequestHandler):
    # Close-delimited bodies for /stream.
    protocol_version = "HTTP/1.0"

    def answer(self, status, body, content_length=True, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if content_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length", "0") or "0")
        body = self.rfile.read(length) if length else b""
        with open(os.path.join(DIR, f"hits-{PORT}"), "a") as f:
            f.write(f"{self.command} {self.path}\n")
        parts = self.path.split("?")[0].strip("/").split("/")
        kind = parts[0]
        if kind == "ready":
            self.answer(200, b"ok")
        elif kind == "redirect":
            with open(os.path.join(DIR, "redirect-to")) as f:
                port = f.read().strip()
            self.answer(
                307,
                b"",
                headers=[("Location", f"http://127.0.0.1:{port}/api/v2/signingCert")],
            )
        elif kind == "drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass
        elif kind == "big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            try:
                self.wfile.write(b"x" * BIG)
            except OSError:
                pass
        elif kind == "stream":
            self.send_response(200)
            self.end_headers()
            try:
                self.wfile.write(b"x" * BIG)
            except OSError:
                pass
        elif kind == "echo":
            # The credential alone, without its scheme: what a gateway quoting the
            # request might show, and no "Bearer" word for a log scrubber to key on.
            auth = self.headers.get("Authorization", "").split(" ", 1)[-1].encode()
            self.answer(400, b"bad request: " + body + b" credential: " + auth)
        elif kind == "garbage":
            self.answer(200, b"not json")
        elif kind == "file" and len(parts) > 1:
            with open(os.path.join(DIR, parts[1]), "rb") as f:
                self.answer(200, f.read())
        else:
            self.answer(500, b"no")

    do_GET = handle_any
    do_POST = handle_any

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 3:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        os.path.join(sys.argv[3], "server.pem"), os.path.join(sys.argv[3], "server.key")
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
