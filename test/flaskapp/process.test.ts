// The built bundle as Kubernetes runs it: a real process, copied alone into an
// empty directory (no node_modules), signalled like the kubelet does.
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { alive, descendants } from "../processes.ts";
import { eventually, rawRequest } from "./helpers.ts";

let dir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "flaskapp-bundle-"));
  copyFileSync(new URL("../../dist/flaskapp.js", import.meta.url), join(dir, "flaskapp-bundle.js"));
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  port: number;
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

async function start(env: Record<string, string>, host: string | null = "127.0.0.1"): Promise<Started> {
  const child = spawn(process.execPath, ["flaskapp-bundle.js"], {
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
  it("listens on every interface, IPv4 and IPv6, when HOST is unset", async () => {
    const app = await start({}, null);
    expect(await get(app.port, "/env/version", "127.0.0.1")).toEqual({ status: 200, body: "v2" });
    expect(await get(app.port, "/env/version", "::1")).toEqual({ status: 200, body: "v2" });
    app.child.kill("SIGKILL");
  });

  it("serves /env/version and, on SIGTERM, fails readiness, finishes in-flight work and exits 0", async () => {
    const app = await start({ SHUTDOWN_DELAY: "300ms", DRAIN_TIMEOUT: "5s" });
    expect(await get(app.port, "/env/version")).toEqual({ status: 200, body: "v2" });
    expect(app.lines.find((l) => l.msg === "listening")).toMatchObject({ config: { version: "v2", shutdownDelayMs: 300 } });

    const inFlight = get(app.port, "/delay/1.2");
    await new Promise((resolve) => setTimeout(resolve, 100));
    app.child.kill("SIGTERM");
    await eventually(() => app.lines.some((l) => l.signal === "SIGTERM"));
    expect((await get(app.port, "/readyz")).status).toBe(503);
    expect(await get(app.port, "/healthz")).toEqual({ status: 200, body: "ok" });

    expect(await inFlight).toEqual({ status: 200, body: '{"delay":1.2}' });
    expect(await app.exited).toBe(0);
    const messages = app.lines.map((l) => l.msg);
    expect(messages).toContain("shutdown complete");
    // Idle keep-alive connections were closed, not waited out.
    expect(messages.some((m) => String(m).startsWith("drain timeout"))).toBe(false);
    expect(app.lines.find((l) => l.route === "/delay/:seconds")).toMatchObject({ status: 200 });
  });

  it("bounds draining by DRAIN_TIMEOUT and still exits 0", async () => {
    const app = await start({ SHUTDOWN_DELAY: "0ms", DRAIN_TIMEOUT: "200ms", MAX_DELAY: "30s" });
    const stuck = get(app.port, "/delay/20").catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 100));
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
    const second = spawn(process.execPath, ["flaskapp-bundle.js"], {
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

  it("holds MAX_CONNECTIONS connections and closes one more as it arrives, logging it", async () => {
    const app = await start({ MAX_CONNECTIONS: "2" });
    const held = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })];
    try {
      // Two keep-alive connections stay open after their answers.
      for (const agent of held) {
        const status = await new Promise<number>((resolve, reject) =>
          httpGet({ host: "127.0.0.1", port: app.port, path: "/healthz", agent }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode!));
          }).on("error", reject),
        );
        expect(status).toBe(200);
      }
      expect(await rawRequest(app.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\n\r\n")).toBe(0);
      await eventually(() => app.lines.some((l) => l.msg === "connections refused: MAX_CONNECTIONS reached"), 5000);
      expect(app.lines.find((l) => l.msg === "connections refused: MAX_CONNECTIONS reached")).toMatchObject({ level: 40, dropped: 1, maxConnections: 2 });
    } finally {
      for (const agent of held) agent.destroy();
    }
    // With those closed, new connections are served again (once the server has seen the closes).
    let status = 0;
    for (let attempt = 0; attempt < 50 && status !== 200; attempt++) {
      status = await rawRequest(app.port, "GET /healthz HTTP/1.1\r\nHost: flaskapp\r\nConnection: close\r\n\r\n");
    }
    expect(status).toBe(200);
  });
});

describe("npm start", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("%s to npm's pid stops flaskapp and leaves no process behind", async (signal) => {
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
  });
});
