// Real servers on 127.0.0.1 ephemeral ports for tally's tests: two app
// "versions" behind a round-robin front (which records the most requests it
// ever had in flight), and servers that fail in each way tally must count.
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

export interface Running {
  url: string;
  close(): Promise<void>;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return (server.address() as AddressInfo).port;
}

async function running(server: net.Server): Promise<Running> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * One app version: `/env/version` answers its name, every response carries
 * `x-version`, `/flaky` is 200 on v1 and 503 on v2, `/slow` waits `slowMs`
 * first (so that concurrent requests overlap), `/echo/NAME` answers the
 * request header NAME, `/big` 100 kB, anything else "<version> <path>".
 */
function version(name: string, slowMs: number): http.Server {
  return http.createServer((req, res) => {
    res.setHeader("x-version", name);
    if (req.url === "/flaky") res.statusCode = name === "v1" ? 200 : 503;
    const echo = req.url?.startsWith("/echo/") ? req.headers[req.url.slice("/echo/".length)] : undefined;
    if (req.url === "/slow") setTimeout(() => res.end(name), slowMs);
    else if (echo !== undefined) res.end(String(echo));
    else if (req.url === "/big") res.end(`\n  ${name} ${"x".repeat(100_000)}`);
    else res.end(req.url === "/env/version" ? name : `${name} ${req.url}`);
  });
}

export interface Versions extends Running {
  /** The most requests the front ever had in flight at once. */
  maxInFlight(): number;
  /** Requests the front has received. */
  received(): number;
}

/** v1 and v2 behind a front that proxies to them strictly in turn, like a Service without Istio rules. */
export async function startVersions(slowMs = 5): Promise<Versions> {
  const backends = await Promise.all(["v1", "v2"].map((name) => running(version(name, slowMs))));
  const agent = new http.Agent({ keepAlive: true });
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let received = 0;
  const front = http.createServer((req, res) => {
    received++;
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    res.on("close", () => inFlight--);
    const backend = backends[next++ % backends.length]!;
    const upstream = http.request(
      `${backend.url}${req.url}`,
      { method: req.method, headers: req.headers, agent },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    upstream.end();
  });
  const frontRunning = await running(front);
  return {
    url: frontRunning.url,
    maxInFlight: () => maxInFlight,
    received: () => received,
    close: async () => {
      await frontRunning.close();
      agent.destroy();
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

/** Answers "ok" but drops the connection without a response on every `every`-th request. */
export async function startDropping(every: number, how: "reset" | "close"): Promise<Running> {
  let n = 0;
  return running(
    http.createServer((req, res) => {
      if (++n % every !== 0) return void res.end("ok");
      if (how === "reset") req.socket.resetAndDestroy();
      else req.socket.destroy();
    }),
  );
}

/** Accepts connections and never answers. */
export async function startSilent(): Promise<Running> {
  return running(net.createServer(() => {}));
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPortUrl(): Promise<string> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** Answers every request with a body no other request got: `n0`, `n1`, ... */
export async function startDistinct(): Promise<Running> {
  let n = 0;
  return running(http.createServer((_req, res) => res.end(`n${n++}`)));
}

/** Answers each request with the value of its x-user header, or "(none)". */
export async function startEchoUser(): Promise<Running> {
  return running(http.createServer((req, res) => res.end(String(req.headers["x-user"] ?? "(none)"))));
}
