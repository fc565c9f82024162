import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ANY_IPV4, ConfigError, fallbackHost, parseConfig } from "#flaskapp/config.ts";

const MAIN = new URL("../../services/flaskapp/src/main.ts", import.meta.url).pathname;

describe("parseConfig", () => {
  it("has the documented defaults", () => {
    expect(parseConfig({ version: "v1", POD_NAME: "p" })).toEqual({
      port: 8080,
      host: "127.0.0.1",
      probePort: null,
      probeMaxConnections: 16,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      version: "v1",
      podName: "p",
      envAllow: null,
      fetchAllow: null,
      fetchTimeoutMs: 10_000,
      fetchDeadlineMs: 30_000,
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
      observe: "tuned",
    });
  });

  it.each([
    ["PORT", "0", { port: 0 }],
    ["PORT", "65535", { port: 65535 }],
    ["PORT", " 9090 ", { port: 9090 }],
    ["HOST", "127.0.0.1", { host: "127.0.0.1" }],
    ["HOST", " :: ", { host: "::" }],
    ["HOST", "0.0.0.0", { host: "0.0.0.0" }],
    ["PROBE_PORT", "0", { probePort: 0 }],
    ["PROBE_PORT", "8081", { probePort: 8081 }],
    ["PROBE_PORT", "65535", { probePort: 65535 }],
    ["PROBE_MAX_CONNECTIONS", "1", { probeMaxConnections: 1 }],
    ["PROBE_MAX_CONNECTIONS", "1000", { probeMaxConnections: 1000 }],
    ["HEADERS_TIMEOUT", "1ms", { headersTimeoutMs: 1, requestTimeoutMs: 30_000 }],
    ["HEADERS_TIMEOUT", "30s", { headersTimeoutMs: 30_000, requestTimeoutMs: 30_000 }],
    // Unset, REQUEST_TIMEOUT follows a longer HEADERS_TIMEOUT, and so does FETCH_DEADLINE a longer FETCH_TIMEOUT.
    ["HEADERS_TIMEOUT", "1m", { headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 }],
    ["REQUEST_TIMEOUT", "10s", { headersTimeoutMs: 10_000, requestTimeoutMs: 10_000 }],
    ["REQUEST_TIMEOUT", "1h", { requestTimeoutMs: 3_600_000 }],
    ["FETCH_TIMEOUT", "1m", { fetchTimeoutMs: 60_000, fetchDeadlineMs: 60_000 }],
    ["FETCH_DEADLINE", "10s", { fetchTimeoutMs: 10_000, fetchDeadlineMs: 10_000 }],
    ["FETCH_DEADLINE", "1h", { fetchDeadlineMs: 3_600_000 }],
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
    ["FLASKAPP_OBSERVE", "plain", { observe: "plain" }],
    ["FLASKAPP_OBSERVE", "tuned", { observe: "tuned" }],
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
    ["PROBE_PORT", "", "a port number from 0 to 65535, other than PORT"],
    ["PROBE_PORT", "65536", "a port number"],
    ["PROBE_PORT", "8080", "a port number other than PORT's"],
    ["PROBE_MAX_CONNECTIONS", "0", "a whole number of connections from 1 to 1000"],
    ["PROBE_MAX_CONNECTIONS", "1001", "a whole number of connections from 1 to 1000"],
    ["HEADERS_TIMEOUT", "0s", "above 0"],
    ["HEADERS_TIMEOUT", "2h", "at most 1h"],
    ["HEADERS_TIMEOUT", "10", "a number with a unit"],
    ["REQUEST_TIMEOUT", "9999ms", "no shorter than HEADERS_TIMEOUT (10000 ms)"],
    ["REQUEST_TIMEOUT", "0s", "above 0"],
    ["FETCH_DEADLINE", "9.9s", "no shorter than FETCH_TIMEOUT (10000 ms)"],
    ["FETCH_DEADLINE", "2h", "at most 1h"],
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
    ["FLASKAPP_OBSERVE", "fast", "one of plain, tuned"],
    ["FLASKAPP_OBSERVE", "", "one of plain, tuned"],
  ])("rejects %s=%j naming the variable and the accepted form", (name, value, form) => {
    const result = parseConfig({ [name]: value });
    expect(result).toBeInstanceOf(ConfigError);
    const message = (result as ConfigError).message;
    expect(message).toContain(`${name}=`);
    expect(message).toContain(form);
    expect(message).not.toContain("\n");
  });

  it.each([
    [{ PORT: "9090", PROBE_PORT: "9090" }, "PROBE_PORT", "other than PORT's"],
    [
      { HEADERS_TIMEOUT: "40s", REQUEST_TIMEOUT: "30s" },
      "REQUEST_TIMEOUT",
      "no shorter than HEADERS_TIMEOUT (40000 ms)",
    ],
    [{ FETCH_TIMEOUT: "5s", FETCH_DEADLINE: "4s" }, "FETCH_DEADLINE", "no shorter than FETCH_TIMEOUT (5000 ms)"],
  ])("rejects %j: settings that must agree", (env, name, form) => {
    const result = parseConfig(env);
    expect(result).toBeInstanceOf(ConfigError);
    expect((result as ConfigError).message).toContain(`${name}=`);
    expect((result as ConfigError).message).toContain(form);
  });

  it("accepts PORT=0 with PROBE_PORT=0: each picks a free port", () => {
    expect(parseConfig({ PORT: "0", PROBE_PORT: "0" })).toMatchObject({ port: 0, probePort: 0 });
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
    const run = spawnSync(process.execPath, [MAIN], {
      env: { PATH: process.env.PATH, [name]: value },
      encoding: "utf8",
      timeout: 15_000,
    });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^flaskapp: invalid ${name}="${value}": expected `));
  });
});

describe("fallbackHost", () => {
  const failed = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });
  it.each([
    ["::", "EAFNOSUPPORT", ANY_IPV4],
    ["::", "EADDRNOTAVAIL", ANY_IPV4],
    ["::", "EADDRINUSE", undefined],
    ["::1", "EAFNOSUPPORT", undefined],
    ["127.0.0.1", "EADDRNOTAVAIL", undefined],
  ])("after HOST=%s failed with %s: %s", (host, code, expected) => {
    expect(fallbackHost(failed(code), host)).toBe(expected);
  });
});
