// A bot's test in node (node --test): twitter-api-v2 through `twerr dump`, each fault asked for
// by the request itself with the X-Twerr-Inject header. Nothing reaches X: every request gets
// a fault, and with connection_strategy=lazy the proxy connects upstream only to forward one.
// README.md shows it; tests/e2e/test_node_example.py runs it (`twerr` on PATH).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiRequestError, ApiResponseError, TwitterApi } from "twitter-api-v2";
import { HttpsProxyAgent } from "https-proxy-agent";

const confdir = mkdtempSync(join(tmpdir(), "twerr-"));
let twerr, client;

before(async () => {
  twerr = spawn("twerr", ["dump", "--listen-host", "127.0.0.1", "--listen-port", "0",
    "--set", `confdir=${confdir}`, "--set", "twerr_inject_header=true",
    "--set", "connection_strategy=lazy"]);
  const port = await new Promise((listening, failed) => {
    let output = "";
    twerr.stdout.on("data", (chunk) => {
      output += chunk;
      const found = output.match(/listening at 127\.0\.0\.1:(\d+)/);
      if (found) listening(found[1]);
    });
    twerr.on("exit", (code) => failed(new Error(`twerr dump exited (${code}):\n${output}`)));
  });
  const ca = readFileSync(join(confdir, "mitmproxy-ca-cert.pem")); // made as twerr starts
  // Trust twerr's CA for the API's TLS inside the tunnel (the agent's own options are for the
  // proxy); NODE_EXTRA_CA_CERTS does it too, when the CA exists before node starts.
  class Agent extends HttpsProxyAgent {
    connect(request, options) { return super.connect(request, { ...options, ca }); }
  }
  const agent = new Agent(`http://127.0.0.1:${port}`);
  const tokens = { appKey: "k", appSecret: "s", accessToken: "t", accessSecret: "ts" };
  client = new TwitterApi(tokens, { httpAgent: agent });
});

after(() => {
  twerr.kill();
  rmSync(confdir, { recursive: true, force: true });
});

const inject = (fault) => ({ headers: { "X-Twerr-Inject": fault } });

test("a duplicate Tweet is refused as X refuses it", async () => {
  const post = client.v2.post("tweets", { text: "hello" }, inject("187"));
  await assert.rejects(post, (e) => e instanceof ApiResponseError && e.code === 403);
});

test("a spent rate limit names its reset", async () => {
  const read = client.v2.get("users/me", undefined, inject("88"));
  await assert.rejects(read, (e) => e.rateLimitError && e.rateLimit.reset > Date.now() / 1000);
});

test("a connection reset is a request error, not a response", async () => {
  const read = client.v2.get("users/me", undefined, inject("reset"));
  await assert.rejects(read, (e) => e instanceof ApiRequestError);
});
