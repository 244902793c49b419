#!/usr/bin/env python3
"""A webhook receiver and an SMTP server on 127.0.0.1 for the alert tests.

Usage: python3 receivers.py OUT_DIR

Prints one line `http PORT smtp PORT` once both listen, then serves until stdin closes.
Every POST to /hook is appended to OUT_DIR/hook.jsonl (its JSON body); a POST to /refuse
is counted in OUT_DIR/refused.txt and answered 503. Every mail is appended to
OUT_DIR/mail.jsonl as {from, to, subject, parts: [content types], text, html}.
"""

import email
import email.policy
import http.server
import json
import os
import socket
import sys
import threading

from aiosmtpd.controller import Controller

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
lock = threading.Lock()


def append(name: str, line: str) -> None:
    with lock, open(os.path.join(out, name), "a", encoding="utf-8") as f:
        f.write(line + "\n")


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/refuse":
            append("refused.txt", "1")
            self.send_response(503)
            self.end_headers()
            return
        append("hook.jsonl", json.dumps(json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = [p.get_content_type() for p in msg.walk() if not p.is_multipart()]
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        append("mail.jsonl", json.dumps({
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(msg["subject"]),
            "parts": parts,
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
        }))
        return "250 OK"


httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=httpd.serve_forever, daemon=True).start()
# aiosmtpd checks its own socket by connecting to the port it was given: pick a free one.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
smtp.start()
print(f"http {httpd.server_address[1]} smtp {port}", flush=True)
sys.stdin.read()
smtp.stop()
httpd.shutdown()
