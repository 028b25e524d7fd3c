"""A meetinghooks webhook receiver verified with the official Standard Webhooks library.

    WEBHOOK_SECRET=whsec_... PORT=8787 python receiver.py

Answers 204 to a delivery whose signature verifies, 400 otherwise, and prints one JSON line
per request on stdout: {"verified": true, "webhookId", "webhookType", "sequence", ...}.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # "whsec_…", as POST /v1/endpoints returned it


def record(line):
    print(json.dumps(line), flush=True)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = dict(self.headers.items())
        try:
            event = webhook.verify(body, headers)
        except WebhookVerificationError as error:
            record({"verified": False, "error": str(error)})
            self.send_response(400)
            self.end_headers()
            return
        record(
            {
                "verified": True,
                "webhookId": self.headers["webhook-id"],
                "webhookType": event["webhookType"],
                "sequence": self.headers.get("webhook-sequence"),
                # What was verified, so a test can replay it with a changed byte.
                "headers": {k: self.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")},
                "body": body.decode(),
            }
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass  # stdout carries only the records


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8787"))), Handler)
record({"listening": server.server_address[1]})
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
