// A meetinghooks webhook receiver verified with the official Standard Webhooks library.
//
//   WEBHOOK_SECRET=whsec_... PORT=8788 node receiver.js
//
// Answers 204 to a delivery whose signature verifies, 400 otherwise, and prints one JSON line
// per request on stdout: {"verified": true, "webhookId", "webhookType", "sequence", ...}.
"use strict";

const http = require("node:http");
const { Webhook } = require("standardwebhooks");

const webhook = new Webhook(process.env.WEBHOOK_SECRET); // "whsec_…", as POST /v1/endpoints returned it

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
      },
      body,
    });
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT || 8788), "127.0.0.1", () => {
  record({ listening: server.address().port });
});
