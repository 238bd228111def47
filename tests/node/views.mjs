// What node's twitter-api-v2 makes of each response: read jobs on stdin, print views as JSON.
// Used by tests/fidelity.py; TWERR_PROXY, when set, is the HTTPS proxy to go through.
import { TwitterApi } from "twitter-api-v2";
import { HttpsProxyAgent } from "https-proxy-agent";

const input = JSON.parse(await new Promise((done) => {
  let text = "";
  process.stdin.on("data", (chunk) => (text += chunk));
  process.stdin.on("end", () => done(text));
}));
const [appKey, appSecret, accessToken, accessSecret] = input.tokens;
const settings = process.env.TWERR_PROXY
  ? { httpAgent: new HttpsProxyAgent(process.env.TWERR_PROXY) }
  : {};
const client = new TwitterApi({ appKey, appSecret, accessToken, accessSecret }, settings);
const direct = new TwitterApi({ appKey, appSecret, accessToken, accessSecret });

// Which network failure an error names, without addresses (as tests/fidelity.py does).
function network(e) {
  const text = `${e.message ?? ""} ${e.requestError?.code ?? ""} ${e.requestError?.message ?? ""}`;
  for (const marker of ["ECONNRESET", "socket hang up", "aborted", "timeout", "ETIMEDOUT"]) {
    if (text.includes(marker)) return marker;
  }
  return null;
}

// When a reset comes, as clients act on it (the same buckets as tests/fidelity.py).
function when(reset) {
  if (reset === undefined || reset === null || Number.isNaN(reset)) return null;
  const seconds = reset - Date.now() / 1000;
  if (seconds <= 0) return "past";
  return seconds <= 960 ? "window" : seconds <= 86460 ? "day" : "later";
}

function limits(rateLimit) {
  if (!rateLimit) return null;
  const view = { remaining: rateLimit.remaining > 0 ? ">0" : String(rateLimit.remaining), reset: when(rateLimit.reset) };
  if (rateLimit.day) view.day = { remaining: String(rateLimit.day.remaining), reset: when(rateLimit.day.reset) };
  return view;
}

// A getter of the library's that throws on an odd body: that is its view too.
function safe(read) {
  try {
    return read() ?? null;
  } catch (e) {
    return `throws ${e.constructor.name}`;
  }
}

const views = {};
for (const job of input.jobs) {
  const method = job.method.toLowerCase();
  const options = { prefix: "", headers: job.headers, fullResponse: true };
  if (job.timeout) options.timeout = job.timeout;
  const api = job.direct ? direct : client;
  try {
    const result = await api[method](job.url, undefined, options);
    views[job.key] = { returns: result.data, status: result.code };
  } catch (e) {
    views[job.key] = {
      raises: e.constructor.name,
      code: e.code ?? null,
      errors: e.errors ?? null,
      data: typeof e.data === "string" ? e.data.slice(0, 60) : e.data ?? null,
      rateLimitError: safe(() => e.rateLimitError),
      isAuthError: safe(() => e.isAuthError),
      rateLimit: limits(e.rateLimit),
      message: network(e) ? null : (e.message ?? "").replace(/\d+\.\d+\.\d+\.\d+:\d+/g, "ADDR"),
      network: network(e),
    };
  }
}
process.stdout.write(JSON.stringify(views));
