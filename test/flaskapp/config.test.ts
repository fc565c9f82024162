import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../services/flaskapp/src/config.ts";

const MAIN = new URL("../../services/flaskapp/src/main.ts", import.meta.url).pathname;

describe("parseConfig", () => {
  it("has the documented defaults", () => {
    expect(parseConfig({ version: "v1", POD_NAME: "p" })).toEqual({
      port: 8080,
      host: undefined,
      version: "v1",
      podName: "p",
      envAllow: null,
      fetchAllow: null,
      fetchTimeoutMs: 10_000,
      fetchMaxBytes: 10 * 1024 * 1024,
      fetchConcurrency: 32,
      fetchMaxHops: 3,
      fetchProxy: null,
      failStatus: null,
      maxConnections: 1000,
      maxRequestsPerConnection: 1000,
      maxDelayMs: 10_000,
      shutdownDelayMs: 5_000,
      drainTimeoutMs: 10_000,
      logLevel: "info",
    });
  });

  it.each([
    ["PORT", "0", { port: 0 }],
    ["PORT", "65535", { port: 65535 }],
    ["PORT", " 9090 ", { port: 9090 }],
    ["HOST", "127.0.0.1", { host: "127.0.0.1" }],
    ["ENV_ALLOW", "version, POD_NAME", { envAllow: new Set(["version", "POD_NAME"]) }],
    ["FETCH_ALLOW", "Example.COM,[::1],httpbin.", { fetchAllow: new Set(["example.com", "::1", "httpbin"]) }],
    ["FETCH_TIMEOUT", "500ms", { fetchTimeoutMs: 500 }],
    ["FETCH_TIMEOUT", "1h", { fetchTimeoutMs: 3_600_000 }],
    ["FETCH_MAX_BYTES", "1", { fetchMaxBytes: 1 }],
    ["FETCH_MAX_BYTES", "9007199254740991", { fetchMaxBytes: Number.MAX_SAFE_INTEGER }],
    ["FETCH_CONCURRENCY", "1", { fetchConcurrency: 1 }],
    ["FETCH_CONCURRENCY", "10000", { fetchConcurrency: 10_000 }],
    ["FETCH_MAX_HOPS", "1", { fetchMaxHops: 1 }],
    ["FETCH_MAX_HOPS", "20", { fetchMaxHops: 20 }],
    ["FETCH_PROXY", "http://127.0.0.1:15001", { fetchProxy: "http://127.0.0.1:15001/" }],
    ["FETCH_PROXY", " http://sidecar/ ", { fetchProxy: "http://sidecar/" }],
    ["FAIL_STATUS", "500", { failStatus: 500 }],
    ["FAIL_STATUS", "599", { failStatus: 599 }],
    ["MAX_CONNECTIONS", "1", { maxConnections: 1 }],
    ["MAX_CONNECTIONS", "100000", { maxConnections: 100_000 }],
    ["MAX_REQUESTS_PER_CONNECTION", "1", { maxRequestsPerConnection: 1 }],
    ["MAX_REQUESTS_PER_CONNECTION", "1000000", { maxRequestsPerConnection: 1_000_000 }],
    ["version", "v1", { version: "v1" }],
    ["version", "2.0.1-rc 1", { version: "2.0.1-rc 1" }],
    ["MAX_DELAY", "0s", { maxDelayMs: 0 }],
    ["MAX_DELAY", "1.5s", { maxDelayMs: 1500 }],
    ["SHUTDOWN_DELAY", "0ms", { shutdownDelayMs: 0 }],
    ["DRAIN_TIMEOUT", "30s", { drainTimeoutMs: 30_000 }],
    ["LOG_LEVEL", "silent", { logLevel: "silent" }],
  ])("accepts %s=%j", (name, value, expected) => {
    expect(parseConfig({ [name]: value })).toMatchObject(expected);
  });

  it.each([
    ["PORT", "", "a port number from 0 to 65535"],
    ["PORT", "65536", "a port number"],
    ["PORT", "-1", "a port number"],
    ["PORT", "80a", "a port number"],
    ["PORT", "8e3", "a port number"],
    ["HOST", " ", "an address to listen on"],
    ["ENV_ALLOW", "", "comma-separated variable names"],
    ["ENV_ALLOW", " , ", "comma-separated variable names"],
    ["ENV_ALLOW", "version,BAD NAME", "comma-separated variable names"],
    ["FETCH_ALLOW", "", "comma-separated host names"],
    ["FETCH_ALLOW", "http://example.com", "comma-separated host names"],
    ["FETCH_ALLOW", "exa mple.com", "comma-separated host names"],
    ["FETCH_TIMEOUT", "10", "a number with a unit"],
    ["FETCH_TIMEOUT", "0s", "above 0"],
    ["FETCH_TIMEOUT", "2h", "at most 1h"],
    ["FETCH_TIMEOUT", "ten seconds", "a number with a unit"],
    ["FETCH_MAX_BYTES", "0", "a whole number of bytes"],
    ["FETCH_MAX_BYTES", "10MiB", "a whole number of bytes"],
    ["FETCH_MAX_BYTES", "1.5", "a whole number of bytes"],
    ["FETCH_MAX_BYTES", "9007199254740992", "a whole number of bytes"],
    ["FETCH_CONCURRENCY", "0", "a whole number of fetches from 1 to 10000"],
    ["FETCH_CONCURRENCY", "10001", "a whole number of fetches"],
    ["FETCH_MAX_HOPS", "0", "a whole number of hops from 1 to 20"],
    ["FETCH_MAX_HOPS", "21", "a whole number of hops"],
    ["FETCH_PROXY", "", "an HTTP proxy URL"],
    ["FETCH_PROXY", "127.0.0.1:15001", "an HTTP proxy URL"],
    ["FETCH_PROXY", "https://127.0.0.1:15001", "an HTTP proxy URL"],
    ["FETCH_PROXY", "socks5://127.0.0.1:1080", "an HTTP proxy URL"],
    ["FETCH_PROXY", "http://u:p@127.0.0.1:15001", "an HTTP proxy URL"],
    ["FETCH_PROXY", "http://127.0.0.1:15001/path", "an HTTP proxy URL"],
    ["FETCH_PROXY", "http://127.0.0.1:99999", "an HTTP proxy URL"],
    ["FAIL_STATUS", "499", "a status code from 500 to 599"],
    ["FAIL_STATUS", "600", "a status code from 500 to 599"],
    ["FAIL_STATUS", "", "a status code from 500 to 599"],
    ["FAIL_STATUS", "5O3", "a status code from 500 to 599"],
    ["MAX_CONNECTIONS", "0", "a whole number of connections from 1 to 100000"],
    ["MAX_CONNECTIONS", "100001", "a whole number of connections"],
    ["MAX_REQUESTS_PER_CONNECTION", "0", "a whole number of requests from 1 to 1000000"],
    ["MAX_REQUESTS_PER_CONNECTION", "1000001", "a whole number of requests"],
    ["version", "", "1 to 64 printable ASCII characters"],
    ["version", " v1", "1 to 64 printable ASCII characters"],
    ["version", "v1\n", "1 to 64 printable ASCII characters"],
    ["version", "vé", "1 to 64 printable ASCII characters"],
    ["version", "v".repeat(65), "1 to 64 printable ASCII characters"],
    ["MAX_DELAY", "-1s", "a number with a unit"],
    ["SHUTDOWN_DELAY", "5", "a number with a unit"],
    ["DRAIN_TIMEOUT", "forever", "a number with a unit"],
    ["LOG_LEVEL", "verbose", "one of fatal, error, warn, info, debug, trace, silent"],
  ])("rejects %s=%j naming the variable and the accepted form", (name, value, form) => {
    const result = parseConfig({ [name]: value });
    expect(result).toBeInstanceOf(ConfigError);
    const message = (result as ConfigError).message;
    expect(message).toContain(`${name}=`);
    expect(message).toContain(form);
    expect(message).not.toContain("\n");
  });

  it("shortens a very long bad value in the message", () => {
    const result = parseConfig({ PORT: "9".repeat(500) }) as ConfigError;
    expect(result.message.length).toBeLessThan(150);
  });
});

describe("flaskapp process with a bad configuration", () => {
  it.each([
    ["FETCH_TIMEOUT", "10"],
    ["PORT", "http"],
  ])("%s=%s prints one clear line and exits 1", (name, value) => {
    const run = spawnSync(process.execPath, [MAIN], { env: { PATH: process.env.PATH, [name]: value }, encoding: "utf8", timeout: 15_000 });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^flaskapp: invalid ${name}="${value}": expected `));
  });
});
