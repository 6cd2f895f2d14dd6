// The baseline: Node's own http module answering the same JSON as the app's /health/live.
"use strict";
const http = require("http");

const body = JSON.stringify({ status: "ok" });
const port = Number(process.env.PORT || 8001);

http
  .createServer((request, response) => {
    response.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    response.end(body);
  })
  .listen(port, "127.0.0.1");
