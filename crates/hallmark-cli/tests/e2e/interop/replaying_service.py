"""A stand-in signing service for the keyless failure tests: every request on 127.0.0.1:PORT is
answered with the bytes the file ANSWER holds at that moment (201 to a POST, 200 to a GET), so
a test can make a log replay a genuine answer for another signature, or garbage.

Usage: replaying_service.py PORT ANSWER
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = open(sys.argv[2], "rb").read()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
