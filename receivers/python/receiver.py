"""A meetinghooks webhook receiver verified with the official Standard Webhooks library.

    WEBHOOK_SECRET=whsec_... PORT=8787 python receiver.py

With VIDEOSDK_PUBLIC_KEY (the PEM of GET /v2/public/rsa-public-key) it also checks
`videosdk-signature` the way VideoSDK's Python sample does: `rsa.verify` with the PKCS#1 key.

Answers 204 to a delivery whose signature verifies, 400 otherwise, and prints one JSON line
per request on stdout: {"verified": true, "webhookId", "webhookType", "sequence", ...}.
"""

import base64
import binascii
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import rsa
from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # "whsec_…", as POST /v1/endpoints returned it
# "-----BEGIN RSA PUBLIC KEY-----…": PKCS#1, the form load_pkcs1 reads.
videosdk_key = os.environ.get("VIDEOSDK_PUBLIC_KEY")
videosdk_key = rsa.PublicKey.load_pkcs1(videosdk_key.encode()) if videosdk_key else None


def verify_videosdk(body, headers):
    signature = headers.get("videosdk-signature")
    if not signature:
        raise rsa.VerificationError("missing videosdk-signature")
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise rsa.VerificationError("videosdk-signature is not base64")
    if rsa.verify(body, raw, videosdk_key) != "SHA-256":
        raise rsa.VerificationError("videosdk-signature is not SHA-256")


lines = threading.Lock()


def record(line):
    # One write under a lock: the server's threads would otherwise interleave their lines.
    with lines:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = dict(self.headers.items())
        try:
            event = webhook.verify(body, headers)
            if videosdk_key:
                verify_videosdk(body, {k.lower(): v for k, v in headers.items()})
        except (WebhookVerificationError, rsa.VerificationError) as error:
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
                "headers": {
                    k: self.headers[k]
                    for k in ("webhook-id", "webhook-timestamp", "webhook-signature", "videosdk-signature")
                    if k in self.headers
                },
                "videosdk": videosdk_key is not None,
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
