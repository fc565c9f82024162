// flaskapp's whole configuration, read from the environment once at start-up.
// Every value is validated here so that a typo fails the pod at once with one
// line naming the variable, instead of surfacing later as odd behaviour.
import { hostname } from "node:os";
import { checkDuration, checkWholeNumber } from "#common/bounded.ts";
import { DURATION_FORM } from "#common/duration.ts";
import { normalizeHost } from "./input.ts";

export interface Config {
  port: number;
  /**
   * Address to listen on: loopback (127.0.0.1) unless HOST says otherwise, so a
   * learner's `npm start` is private. The image sets "::", every interface, which
   * falls back to "0.0.0.0" where the kernel has no IPv6 (main.ts, ANY_IPV4).
   */
  host: string;
  /** Port of the probe listener (/healthz and /readyz only, its own connection cap), or null for none. */
  probePort: number | null;
  /** Connections the probe listener holds at once. */
  probeMaxConnections: number;
  /** How long a client may take to send a request's headers (from the connection's first byte, or its opening); then 408 and close. */
  headersTimeoutMs: number;
  /** How long a client may take to send a whole request, headers and body; then 408 and close. */
  requestTimeoutMs: number;
  /** The `version` variable (v1 or v2 in the lessons), shown by `/`. */
  version: string;
  podName: string;
  /** Names `/env/:name` may reveal; null means every variable, as the original. */
  envAllow: ReadonlySet<string> | null;
  /** Host names `/fetch` may call (normalized); null means any host. */
  fetchAllow: ReadonlySet<string> | null;
  fetchTimeoutMs: number;
  /** Overall deadline of one fetch, response headers and body together: its concurrency slot is free by then. */
  fetchDeadlineMs: number;
  fetchMaxBytes: number;
  /** Fetches in flight at once across all fetch routes; one more is a 503. */
  fetchConcurrency: number;
  /** How many flaskapp fetches one request chain may pass through (the loop guard); one more is a 508. */
  fetchMaxHops: number;
  /** HTTP proxy every outgoing fetch goes through (`http://host:port/`), or null to connect directly. */
  fetchProxy: string | null;
  /** Status every request but /healthz, /readyz and /metrics is answered with, or null (normal service). */
  failStatus: number | null;
  /** Connections the server holds at once; more are closed as they arrive. */
  maxConnections: number;
  /** Requests one connection may carry; the last answer says `Connection: close`, and requests pipelined beyond it get Node's 503. */
  maxRequestsPerConnection: number;
  maxDelayMs: number;
  shutdownDelayMs: number;
  drainTimeoutMs: number;
  logLevel: LogLevel;
  /** Which request recorder and log sink record each request: the plain one (pino and prom-client's public APIs) or the tuned one. */
  observe: ObserveKind;
}

/** Every variable parseConfig reads: the mesh preview gives its local pods only these of a lesson's env (and the names the checks read). */
export const SETTING_NAMES = [
  "PORT",
  "HOST",
  "PROBE_PORT",
  "PROBE_MAX_CONNECTIONS",
  "HEADERS_TIMEOUT",
  "REQUEST_TIMEOUT",
  "version",
  "POD_NAME",
  "ENV_ALLOW",
  "FETCH_ALLOW",
  "FETCH_TIMEOUT",
  "FETCH_DEADLINE",
  "FETCH_MAX_BYTES",
  "FETCH_CONCURRENCY",
  "FETCH_MAX_HOPS",
  "FETCH_PROXY",
  "FAIL_STATUS",
  "MAX_CONNECTIONS",
  "MAX_REQUESTS_PER_CONNECTION",
  "MAX_DELAY",
  "SHUTDOWN_DELAY",
  "DRAIN_TIMEOUT",
  "LOG_LEVEL",
  "FLASKAPP_OBSERVE",
] as const;

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** FLASKAPP_OBSERVE: `plain` records through pino's and prom-client's public APIs only, `tuned` through observe-tuned.ts and line-batch.ts. */
export const OBSERVE_KINDS = ["plain", "tuned"] as const;
export type ObserveKind = (typeof OBSERVE_KINDS)[number];
/** The default recorder and sink: see bench/RESULTS.md, "plain vs tuned". */
export const DEFAULT_OBSERVE: ObserveKind = "tuned";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Longest duration any setting accepts; also keeps timers below Node's 2^31 ms ceiling. */
const MAX_SETTING_MS = 3_600_000;
const MAX_SETTING = "1h";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$|^[0-9a-f:.]*:[0-9a-f:.]*$/;
/** `version` goes into every response's x-flaskapp-version header, so it must be a valid header value. */
const VERSION = /^[\x21-\x7e]([\x20-\x7e]{0,62}[\x21-\x7e])?$/;

type Env = Readonly<Record<string, string | undefined>>;

function fail(name: string, value: string, form: string): ConfigError {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return new ConfigError(`invalid ${name}=${JSON.stringify(shown)}: expected ${form}`);
}

/** A whole number from min to max, or undefined when the variable is unset. */
function integer(env: Env, name: string, min: number, max: number, form: string): number | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const value = checkWholeNumber(raw.trim(), { min, max });
  if (!value.ok) throw fail(name, raw, form);
  return value.value;
}

function duration(env: Env, name: string, fallbackMs: number, minMs: number): number {
  const raw = env[name];
  if (raw === undefined) return fallbackMs;
  const ms = checkDuration(raw, { min: minMs, max: MAX_SETTING_MS });
  if (!ms.ok)
    throw fail(name, raw, `${DURATION_FORM} (${minMs > 0 ? "above 0" : "0 or more"}, at most ${MAX_SETTING})`);
  return ms.value;
}

/** A duration no shorter than another setting's (`floorMs`); unset, the longer of `fallbackMs` and that one. */
function atLeast(env: Env, name: string, fallbackMs: number, floorName: string, floorMs: number): number {
  const ms = duration(env, name, Math.max(fallbackMs, floorMs), 1);
  if (ms < floorMs) throw fail(name, env[name]!, `${DURATION_FORM}, no shorter than ${floorName} (${floorMs} ms)`);
  return ms;
}

function list(
  env: Env,
  name: string,
  normalize: (item: string) => string,
  valid: RegExp,
  form: string,
): ReadonlySet<string> | null {
  const raw = env[name];
  if (raw === undefined) return null;
  const items = raw
    .split(",")
    .map((item) => normalize(item.trim()))
    .filter((item) => item !== "");
  if (items.length === 0 || !items.every((item) => valid.test(item)))
    throw fail(name, raw, `${form}; unset it to allow all`);
  return new Set(items);
}

/** `http://host:port`: a plain HTTP forward proxy, no credentials, path or query. */
function proxy(env: Env, name: string): string | null {
  const raw = env[name];
  if (raw === undefined) return null;
  const url = URL.canParse(raw.trim()) ? new URL(raw.trim()) : undefined;
  const plain =
    url !== undefined && url.protocol === "http:" && url.hostname !== "" && url.username === "" && url.password === "";
  if (!plain || url.pathname !== "/" || url.search !== "" || url.hash !== "")
    throw fail(name, raw, "an HTTP proxy URL such as http://127.0.0.1:15001; unset it to connect directly");
  return url.href;
}

function parse(env: Env): Config {
  const logLevel = env.LOG_LEVEL ?? "info";
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel))
    throw fail("LOG_LEVEL", logLevel, `one of ${LOG_LEVELS.join(", ")}`);
  const observe = env.FLASKAPP_OBSERVE ?? DEFAULT_OBSERVE;
  if (!(OBSERVE_KINDS as readonly string[]).includes(observe))
    throw fail("FLASKAPP_OBSERVE", observe, `one of ${OBSERVE_KINDS.join(", ")}`);
  const host = env.HOST;
  if (host !== undefined && host.trim() === "")
    throw fail("HOST", host, "an address to listen on, such as :: or 127.0.0.1");
  const port = integer(env, "PORT", 0, 65535, "a port number from 0 to 65535") ?? 8080;
  const probePort =
    integer(
      env,
      "PROBE_PORT",
      0,
      65535,
      "a port number from 0 to 65535, other than PORT; unset it for no probe listener",
    ) ?? null;
  if (probePort !== null && probePort !== 0 && probePort === port)
    throw fail("PROBE_PORT", env.PROBE_PORT!, "a port number other than PORT's");
  const headersTimeoutMs = duration(env, "HEADERS_TIMEOUT", 10_000, 1);
  const requestTimeoutMs = atLeast(env, "REQUEST_TIMEOUT", 30_000, "HEADERS_TIMEOUT", headersTimeoutMs);
  const fetchTimeoutMs = duration(env, "FETCH_TIMEOUT", 10_000, 1);
  const fetchDeadlineMs = atLeast(env, "FETCH_DEADLINE", 30_000, "FETCH_TIMEOUT", fetchTimeoutMs);
  return {
    port,
    host: host?.trim() ?? "127.0.0.1",
    probePort,
    probeMaxConnections:
      integer(env, "PROBE_MAX_CONNECTIONS", 1, 1000, "a whole number of connections from 1 to 1000") ?? 16,
    headersTimeoutMs,
    requestTimeoutMs,
    version: versionOf(env),
    podName: env.POD_NAME ?? hostname(),
    envAllow: list(env, "ENV_ALLOW", (s) => s, ENV_NAME, "comma-separated variable names, such as version,POD_NAME"),
    fetchAllow: list(
      env,
      "FETCH_ALLOW",
      normalizeHost,
      HOST_NAME,
      "comma-separated host names, such as httpbin,example.com",
    ),
    fetchTimeoutMs,
    fetchDeadlineMs,
    fetchMaxBytes:
      integer(
        env,
        "FETCH_MAX_BYTES",
        1,
        Number.MAX_SAFE_INTEGER,
        "a whole number of bytes, 1 or more, such as 10485760",
      ) ?? 10 * 1024 * 1024,
    fetchConcurrency: integer(env, "FETCH_CONCURRENCY", 1, 10_000, "a whole number of fetches from 1 to 10000") ?? 32,
    fetchMaxHops: integer(env, "FETCH_MAX_HOPS", 1, 20, "a whole number of hops from 1 to 20") ?? 3,
    fetchProxy: proxy(env, "FETCH_PROXY"),
    failStatus:
      integer(env, "FAIL_STATUS", 500, 599, "a status code from 500 to 599; unset it to serve normally") ?? null,
    maxConnections:
      integer(env, "MAX_CONNECTIONS", 1, 100_000, "a whole number of connections from 1 to 100000") ?? 1000,
    maxRequestsPerConnection:
      integer(env, "MAX_REQUESTS_PER_CONNECTION", 1, 1_000_000, "a whole number of requests from 1 to 1000000") ?? 1000,
    maxDelayMs: duration(env, "MAX_DELAY", 10_000, 0),
    shutdownDelayMs: duration(env, "SHUTDOWN_DELAY", 5_000, 0),
    drainTimeoutMs: duration(env, "DRAIN_TIMEOUT", 10_000, 0),
    logLevel: logLevel as LogLevel,
    observe: observe as ObserveKind,
  };
}

function versionOf(env: Env): string {
  const version = env.version ?? "unknown";
  if (!VERSION.test(version)) throw fail("version", version, "1 to 64 printable ASCII characters, such as v1");
  return version;
}

/** Reads and validates the configuration; a bad value yields a ConfigError whose message is one line. */
export function parseConfig(env: Env): Config | ConfigError {
  try {
    return parse(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
}

/** The configuration as logged at start-up: settings only, never the value of any other variable. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    envAllow: config.envAllow && [...config.envAllow],
    fetchAllow: config.fetchAllow && [...config.fetchAllow],
  };
}

/** The one line flaskapp prints when it cannot listen: a busy port says so in plain words. */
export function listenError(error: NodeJS.ErrnoException, port: number, host: string): string {
  if (error.code === "EADDRINUSE") return `port ${port} is already in use`;
  if (error.code === "EACCES") return `not allowed to listen on port ${port} (EACCES)`;
  return `cannot listen on ${host} port ${port}: ${error.message}`;
}

/** Every IPv4 interface: where "::" fails because the kernel has no IPv6, flaskapp listens here instead (as Node does for no host). */
export const ANY_IPV4 = "0.0.0.0";

/** The address to try after a failed listen on `host`, if any: "::" on a kernel without IPv6 becomes ANY_IPV4. */
export function fallbackHost(error: NodeJS.ErrnoException, host: string): string | undefined {
  return host === "::" && (error.code === "EAFNOSUPPORT" || error.code === "EADDRNOTAVAIL") ? ANY_IPV4 : undefined;
}
