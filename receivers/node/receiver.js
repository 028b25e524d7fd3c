// A meetinghooks webhook receiver verified with the official Standard Webhooks library.
//
//   WEBHOOK_SECRET=whsec_... PORT=8788 node receiver.js
//
// With VIDEOSDK_PUBLIC_KEY (the PEM of GET /v2/public/rsa-public-key) it also checks
// `videosdk-signature` the way VideoSDK's Node sample does: crypto.verify('RSA-SHA256', …)
// over the raw body, and over JSON.stringify(JSON.parse(body)); both must pass.
//
// Answers 204 to a delivery whose signatures verify, 400 otherwise, and prints one JSON line
// per request on stdout: {"verified": true, "webhookId", "webhookType", "sequence", ...}.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const { Webhook } = require("standardwebhooks");

const webhook = new Webhook(process.env.WEBHOOK_SECRET); // "whsec_…", as POST /v1/endpoints returned it
const videosdkKey = process.env.VIDEOSDK_PUBLIC_KEY; // "-----BEGIN RSA PUBLIC KEY-----…"

function verifyVideosdk(body, headers) {
  const signature = headers["videosdk-signature"];
  if (!signature) throw new Error("missing videosdk-signature");
  const sig = Buffer.from(signature, "base64");
  if (!crypto.verify("RSA-SHA256", Buffer.from(body), videosdkKey, sig)) {
    throw new Error("videosdk-signature does not match the raw body");
  }
  // The legacy sample verifies the re-serialised parsed body: the same bytes, by design.
  if (!crypto.verify("RSA-SHA256", Buffer.from(JSON.stringify(JSON.parse(body))), videosdkKey, sig)) {
    throw new Error("videosdk-signature does not match JSON.stringify(JSON.parse(body))");
  }
}

function record(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = webhook.verify(body, req.headers);
      if (videosdkKey) verifyVideosdk(body, req.headers);
    } catch (error) {
      record({ verified: false, error: error.message });
      res.writeHead(400).end();
      return;
    }
    record({
      verified: true,
      webhookId: req.headers["webhook-id"],
      webhookType: event.webhookType,
      sequence: req.headers["webhook-sequence"],
      // What was verified, so a test can replay it with a changed byte.
      headers: {
        "webhook-id": req.headers["webhook-id"],
        "webhook-timestamp": req.headers["webhook-timestamp"],
        "webhook-signature": req.headers["webhook-signature"],
        ...(videosdkKey ? { "videosdk-signature": req.headers["videosdk-signature"] } : {}),
      },
      videosdk: Boolean(videosdkKey),
      body,
    });
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT || 8788), "127.0.0.1", () => {
  record({ listening: server.address().port });
});
