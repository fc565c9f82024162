// The built bundle as Kubernetes runs it: a real process, copied with the app
// bundle and code cache it starts (and nothing else) into an empty directory
// (no node_modules), signalled like the kubelet does.
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, get as httpGet, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { APP_FILE, CODE_CACHE_FILE, V8_FLAGS } from "#flaskapp/code-cache.ts";
import { OBSERVE_KINDS } from "#flaskapp/config.ts";
import { alive, builtinsAtExit, descendants, UNNEEDED_FOR_PLAIN_HTTP } from "../processes.ts";
import { closedAfterEach, eventually, hasIpv6Loopback } from "./helpers.ts";

const IPV6 = await hasIpv6Loopback();
const { upstream } = closedAfterEach();

/** An upstream that holds each request it gets: `arrived` resolves once flaskapp's fetch is in flight, `answer` ends it. */
async function heldUpstream() {
  let hold!: (res: ServerResponse) => void;
  const arrived = new Promise<ServerResponse>((resolve) => (hold = resolve));
  const server = await upstream((_req, res) => hold(res));
  return { url: `/fetch?url=${encodeURIComponent(`${server.url}/held`)}`, arrived };
}

let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "flaskapp-bundle-"));
  copyFileSync(new URL("../../dist/flaskapp.js", import.meta.url), join(dir, "flaskapp-bundle.js"));
  for (const file of [APP_FILE, CODE_CACHE_FILE])
    copyFileSync(new URL(`../../dist/${file}`, import.meta.url), join(dir, file));
});
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  port: number;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

async function start(
  env: Record<string, string>,
  host: string | null = "127.0.0.1",
  nodeOptions: string[] = [],
): Promise<Started> {
  const child = spawn(process.execPath, [...V8_FLAGS, ...nodeOptions, "flaskapp-bundle.js"], {
    cwd: dir,
    env: { PATH: process.env.PATH, version: "v2", PORT: "0", ...(host === null ? {} : { HOST: host }), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buffered = "";
  child.stdout!.on("data", (data: Buffer) => {
    buffered += data.toString();
    const complete = buffered.split("\n");
    buffered = complete.pop()!;
    for (const line of complete) lines.push(JSON.parse(line));
  });
  let stderr = "";
  child.stderr!.on("data", (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await eventually(() => lines.some((l) => l.msg === "listening") || child.exitCode !== null, 10_000);
  const listening = lines.find((l) => l.msg === "listening");
  if (!listening) throw new Error(`flaskapp did not start: ${stderr}`);
  return { child, port: listening.port as number, lines, exited };
}

/**
 * The addresses something listens on at `port`, from the kernel's socket tables
 * (/proc/net/tcp and tcp6), so nothing is probed over the network: "127.0.0.1",
 * "0.0.0.0", "::", "::1" or the raw hex of any other.
 */
function listeningOn(port: number): string[] {
  const KNOWN: Record<string, string> = {
    "0100007F": "127.0.0.1",
    "00000000": "0.0.0.0",
    "00000000000000000000000000000000": "::",
    "00000000000000000000000001000000": "::1",
  };
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const found: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (local === undefined || state !== "0A") continue;
      const [address, localPort] = local.split(":");
      if (localPort === hexPort) found.push(KNOWN[address!] ?? address!);
    }
  }
  return found;
}

const keepAlive = new Agent({ keepAlive: true });
afterAll(() => keepAlive.destroy());

function get(port: number, path: string, host = "127.0.0.1"): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet({ host, port, path, agent: keepAlive }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    }).on("error", reject);
  });
}

describe("dist/flaskapp.js as a process", () => {
  it("listens on 127.0.0.1 only when HOST is unset", async () => {
    const app = await start({}, null);
    expect(app.lines.find((l) => l.msg === "listening")).toMatchObject({
      address: "127.0.0.1",
      config: { host: "127.0.0.1" },
    });
    expect(listeningOn(app.port)).toEqual(["127.0.0.1"]);
    expect(await get(app.port, "/env/version", "127.0.0.1")).toEqual({ status: 200, body: "v2" });
    if (IPV6) await expect(get(app.port, "/env/version", "::1")).rejects.toThrow(/ECONNREFUSED/);
    app.child.kill("SIGKILL");
  });

  // The image's setting: every interface, IPv6 and IPv4 (0.0.0.0 where the kernel has no IPv6).
  it("listens on every interface with HOST=::", async () => {
    const app = await start({}, "::");
    const any = IPV6 ? "::" : "0.0.0.0";
    expect(app.lines.find((l) => l.msg === "listening")).toMatchObject({ address: any });
    expect(listeningOn(app.port)).toEqual([any]);
    expect(await get(app.port, "/env/version", "127.0.0.1")).toEqual({ status: 200, body: "v2" });
    if (IPV6) expect(await get(app.port, "/env/version", "::1")).toEqual({ status: 200, body: "v2" });
    app.child.kill("SIGKILL");
  });

  it("with PROBE_PORT, answers the probes on a second listener, on the same address, and nothing else there", async () => {
    const app = await start({ PROBE_PORT: "0" });
    const listening = app.lines.find((l) => l.msg === "listening")!;
    const probePort = listening.probePort as number;
    expect(probePort).toBeGreaterThan(0);
    expect(probePort).not.toBe(app.port);
    expect(listeningOn(probePort)).toEqual(["127.0.0.1"]);
    expect(await get(probePort, "/healthz")).toEqual({ status: 200, body: "ok" });
    expect(await get(probePort, "/readyz")).toEqual({ status: 200, body: "ready" });
    expect((await get(probePort, "/env/version")).status).toBe(404);
    // The app's port still answers them too (the mesh preview polls /readyz there).
    expect(await get(app.port, "/readyz")).toEqual({ status: 200, body: "ready" });
    app.child.kill("SIGTERM");
    await eventually(() => app.lines.some((l) => l.signal === "SIGTERM"));
    expect((await get(probePort, "/readyz")).status).toBe(503);
    expect(await get(probePort, "/healthz")).toEqual({ status: 200, body: "ok" });
  });

  // Both log sinks and recorders (FLASKAPP_OBSERVE): request lines arrive, and the last ones are flushed at exit.
  it.each(OBSERVE_KINDS)(
    "FLASKAPP_OBSERVE=%s: serves /env/version and, on SIGTERM, fails readiness, finishes in-flight work and exits 0",
    async (observe) => {
      const app = await start({ SHUTDOWN_DELAY: "300ms", DRAIN_TIMEOUT: "5s", FLASKAPP_OBSERVE: observe });
      expect(await get(app.port, "/env/version")).toEqual({ status: 200, body: "v2" });
      expect(app.lines.find((l) => l.msg === "listening")).toMatchObject({
        config: { version: "v2", shutdownDelayMs: 300, observe },
      });

      // In flight for sure: the upstream holds the request flaskapp's /fetch sent it.
      const held = await heldUpstream();
      const inFlight = get(app.port, held.url);
      const upstreamReply = await held.arrived;
      app.child.kill("SIGTERM");
      await eventually(() => app.lines.some((l) => l.signal === "SIGTERM"));
      expect((await get(app.port, "/readyz")).status).toBe(503);
      expect(await get(app.port, "/healthz")).toEqual({ status: 200, body: "ok" });

      upstreamReply.end("finished");
      expect(await inFlight).toEqual({ status: 200, body: "finished" });
      expect(await app.exited).toBe(0);
      const messages = app.lines.map((l) => l.msg);
      expect(messages).toContain("shutdown complete");
      // Idle keep-alive connections were closed, not waited out.
      expect(messages.some((m) => String(m).startsWith("drain timeout"))).toBe(false);
      expect(app.lines.find((l) => l.route === "/fetch")).toMatchObject({ status: 200 });
    },
  );

  it("bounds draining by DRAIN_TIMEOUT and still exits 0", async () => {
    const app = await start({ SHUTDOWN_DELAY: "0ms", DRAIN_TIMEOUT: "200ms" });
    const held = await heldUpstream();
    const stuck = get(app.port, held.url).catch((error: Error) => error);
    await held.arrived;
    app.child.kill("SIGTERM");
    expect(await app.exited).toBe(0);
    expect(await stuck).toBeInstanceOf(Error);
    expect(app.lines.map((l) => l.msg)).toContain("drain timeout: closing remaining connections");
  });

  it("a second signal exits at once", async () => {
    const app = await start({ SHUTDOWN_DELAY: "30s" });
    app.child.kill("SIGTERM");
    await eventually(() => app.lines.some((l) => l.signal === "SIGTERM"));
    app.child.kill("SIGINT");
    expect(await app.exited).toBe(1);
    expect(app.lines.at(-1)).toMatchObject({ msg: "second signal: exiting now", signal: "SIGINT" });
  });

  it("fails with exit 1 and one plain line naming the port when the port is taken", async () => {
    const first = await start({});
    const second = spawn(process.execPath, [...V8_FLAGS, "flaskapp-bundle.js"], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOST: "127.0.0.1", PORT: String(first.port) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(second);
    let out = "";
    let err = "";
    second.stdout.on("data", (data: Buffer) => (out += data.toString()));
    second.stderr.on("data", (data: Buffer) => (err += data.toString()));
    const code = await new Promise((resolve) => second.on("close", resolve));
    expect(code).toBe(1);
    expect(out).toBe("");
    expect(err).toBe(`flaskapp: port ${first.port} is already in use\n`);
  });
});

describe("the bundle's first fetch", () => {
  it.each([
    ["directly", false],
    ["through FETCH_PROXY", true],
  ])(
    "%s loads undici's one dispatcher, and not node:tls, crypto, http2, zlib or web streams with the rest of undici",
    async (_how, viaProxy) => {
      const up = await upstream((req, res) => res.end(`saw ${req.url}`));
      const builtins = builtinsAtExit(mkdtempSync(join(dir, "builtins-")));
      const app = await start({ SHUTDOWN_DELAY: "0s", ...(viaProxy ? { FETCH_PROXY: up.url } : {}) }, "127.0.0.1", [
        "--require",
        builtins.preload,
      ]);
      const target = viaProxy ? "http://flaskapp.test/x" : `${up.url}/x`;
      expect(await get(app.port, `/fetch?url=${encodeURIComponent(target)}`)).toEqual({
        status: 200,
        body: viaProxy ? "saw http://flaskapp.test/x" : "saw /x",
      });
      app.child.kill("SIGTERM");
      expect(await app.exited).toBe(0);
      const loaded = builtins.loaded();
      expect(loaded).toContain("NativeModule net");
      expect(loaded.filter((name) => UNNEEDED_FOR_PLAIN_HTTP.test(name))).toEqual([]);
    },
  );
});

describe("npm start", () => {
  it("listens on loopback only (127.0.0.1) when HOST is unset", async () => {
    const env: Record<string, string | undefined> = { ...process.env, PORT: "0", SHUTDOWN_DELAY: "0ms", version: "v2" };
    delete env.HOST;
    const npm = spawn("npm", ["start", "--silent"], {
      cwd: new URL("../..", import.meta.url).pathname,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(npm);
    let out = "";
    npm.stdout.on("data", (data: Buffer) => (out += data.toString()));
    const exited = new Promise<void>((resolve) => npm.on("exit", () => resolve()));
    await eventually(() => out.includes('"msg":"listening"'), 15_000);
    const below = descendants(npm.pid!);
    try {
      const listening = JSON.parse(out.split("\n").find((line) => line.includes('"msg":"listening"'))!);
      expect(listening).toMatchObject({ address: "127.0.0.1" });
      expect(listeningOn(listening.port)).toEqual(["127.0.0.1"]);
      expect(await get(listening.port, "/env/version")).toEqual({ status: 200, body: "v2" });
      process.kill(npm.pid!, "SIGTERM");
      await exited;
    } finally {
      for (const pid of below.filter(alive)) process.kill(pid, "SIGKILL");
    }
  });

  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s to npm's pid stops flaskapp and leaves no process behind",
    async (signal) => {
      const npm = spawn("npm", ["start", "--silent"], {
        cwd: new URL("../..", import.meta.url).pathname,
        env: { ...process.env, PORT: "0", HOST: "127.0.0.1", SHUTDOWN_DELAY: "0ms", version: "v2" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.push(npm);
      let out = "";
      npm.stdout.on("data", (data: Buffer) => (out += data.toString()));
      const exited = new Promise<void>((resolve) => npm.on("exit", () => resolve()));
      await eventually(() => out.includes('"msg":"listening"'), 15_000);
      const below = descendants(npm.pid!);
      try {
        const commands = below.map((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
        expect(commands.some((c) => c.includes("dist/flaskapp.js"))).toBe(true);
        // exec: the shell npm starts becomes flaskapp, so npm's signal reaches flaskapp itself.
        expect(commands.some((c) => /^(\/bin\/)?sh /.test(c))).toBe(false);
        process.kill(npm.pid!, signal);
        await exited;
        expect(out).toContain('"msg":"shutdown complete"');
        expect(below.filter(alive)).toEqual([]);
      } finally {
        for (const pid of below.filter(alive)) process.kill(pid, "SIGKILL");
      }
    },
  );
});
