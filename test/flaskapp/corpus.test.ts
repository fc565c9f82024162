// Hostile and odd input against a real listening app: every reply must be a
// deliberate one (never a 500, never a dropped connection) and the server must
// stay up. Fetches are confined to loopback by FETCH_ALLOW.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, makeApp, rawRequest, type Running } from "./helpers.ts";

let app: Running;
let upstream: Running;
let closedPort: number;

beforeAll(async () => {
  upstream = await listen((req, res) => res.end(`upstream saw ${req.url?.length ?? 0} chars`));
  const closed = await listen(() => undefined);
  closedPort = closed.port;
  await closed.close();
  app = await listen(makeApp({ FETCH_ALLOW: "127.0.0.1,::1,localhost", FETCH_TIMEOUT: "2s", MAX_DELAY: "1s" }).app);
});
afterAll(async () => {
  await app.close();
  await upstream.close();
});

const LONG = "a".repeat(10_000);

/** Values tried in every route's parameter, percent-encoded so they reach the app. */
function values(): string[] {
  return [
    "",
    " ",
    "..",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "\u0000",
    "\r\nSet-Cookie: x=1",
    "%0d%0aSet-Cookie:%20x=1",
    "ünïcödé",
    "😀",
    "\u202e\u0301",
    "\uFFFD",
    LONG,
    "A".repeat(5000) + "=",
    "1e400",
    "-0",
    "NaN",
    "0x1f4",
    "503:0.5,200:0.5",
    "503:1:2",
    "1".repeat(400),
    "file:///etc/passwd",
    "file://localhost/etc/shadow",
    "data:text/html,<script>alert(1)</script>",
    "javascript:alert(document.cookie)",
    "gopher://127.0.0.1:25/_HELO",
    "ftp://127.0.0.1/",
    "dict://127.0.0.1:11211/stats",
    "ws://127.0.0.1/",
    "http://[::1]:1/",
    `http://[::1]:${closedPort}/`,
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1%25eth0]/",
    "http://[::1/",
    "http://user:pass@127.0.0.1/",
    "http://user@127.0.0.1/",
    "http://@127.0.0.1/",
    "http://127.0.0.1@evil.example/",
    "http://evil.example\\@127.0.0.1/",
    `http://127.0.0.1:${closedPort}/${LONG}`,
    `http://127.0.0.1:${upstream.port}/${LONG}`,
    `http://${LONG}.com/`,
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f.0.0.1/",
    "http://localhost:99999/",
    "http:/127.0.0.1/",
    "http:127.0.0.1",
    "//127.0.0.1/",
    "HTTP://LOCALHOST:1/",
    `http://127.0.0.1:${upstream.port}/%0d%0aX-Injected:%201`,
    `http://127.0.0.1:${upstream.port}/ünï`,
    `http://127.0.0.1:${upstream.port}/..%2f..%2f`,
  ];
}

/** Requests written byte for byte, for what a well-behaved client would refuse to send. */
const RAW_PATHS = [
  "/env/a b",
  "/env/\u00ff",
  "/env/%",
  "/env/%zz",
  "/env/%E0%A4%A",
  "/env/../../etc/passwd",
  "/status/%",
  "/delay/%",
  "/fetch?url=%",
  "/fetch?url=%zz",
  "/fetch?url=http://127.0.0.1\r\nX-Injected: 1",
  "//env//version",
  "/./env/./version",
  "*",
  "http://127.0.0.1/env/version",
  "/" + "x".repeat(10_000),
];

describe("bad-input corpus", () => {
  it("has at least 100 inputs", () => {
    expect(values().length * 4 + RAW_PATHS.length).toBeGreaterThanOrEqual(100);
  });

  it("never answers 500 nor drops the connection, and the server stays up", async () => {
    const replies: [string, number][] = [];
    for (const value of values()) {
      const encoded = encodeURIComponent(value);
      for (const path of [`/env/${encoded}`, `/status/${encoded}`, `/delay/${encoded}`, `/fetch?url=${encoded}`]) {
        replies.push([
          path,
          await rawRequest(app.port, `GET ${path} HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n`),
        ]);
      }
    }
    for (const path of RAW_PATHS) {
      replies.push([
        path,
        await rawRequest(app.port, `GET ${path} HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n`),
      ]);
    }
    for (const header of ["traceparent: \u00ff\u00fe", `x-request-id: ${"r".repeat(8000)}`, "lab: \u00e9"]) {
      const path = `/fetch_with_header?url=${encodeURIComponent(`http://127.0.0.1:${upstream.port}/`)}`;
      replies.push([
        header,
        await rawRequest(app.port, `GET ${path} HTTP/1.1\r\nHost: flaskapp\r\n${header}\r\nConnection: close\r\n\r\n`),
      ]);
    }
    const bad = replies.filter(
      ([, status]) => status === 0 || (status >= 500 && status !== 502 && status !== 503 && status !== 504),
    );
    expect(bad.map(([input, status]) => `${status} ${input.slice(0, 80)}`)).toEqual([]);
    // Each family of input gets its deliberate answer.
    const statusOf = (path: string): number | undefined => replies.find(([p]) => p === path)?.[1];
    expect(statusOf(`/fetch?url=${encodeURIComponent("file:///etc/passwd")}`)).toBe(400);
    expect(statusOf(`/fetch?url=${encodeURIComponent("http://user:pass@127.0.0.1/")}`)).toBe(400);
    expect(statusOf(`/fetch?url=${encodeURIComponent(`http://${LONG}.com/`)}`)).toBe(403);
    expect(statusOf(`/fetch?url=${encodeURIComponent(`http://[::1]:${closedPort}/`)}`)).toBe(502);
    expect(statusOf(`/fetch?url=${encodeURIComponent(`http://127.0.0.1:${upstream.port}/${LONG}`)}`)).toBe(200);
    expect(statusOf(`/env/${encodeURIComponent(LONG)}`)).toBe(404);
    expect(statusOf("/env/%zz")).toBe(400);
    expect(replies.length).toBeGreaterThanOrEqual(100);
    expect(await rawRequest(app.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n")).toBe(
      200,
    );
  }, 60_000);
});
