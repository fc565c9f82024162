// The outside world, as the mesh preview stands it in: one HTTP server on
// 127.0.0.1 that answers for every host outside the cluster (httpbin.org,
// example.com, ...), so egress lessons run without leaving this machine.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export const OUTSIDE_HEADER = "x-mesh-preview-outside";

export class OutsideWorld {
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Answers every request 200 with JSON naming the host and path it was for, and the request headers (as httpbin's /get does). */
  static async start(): Promise<OutsideWorld> {
    const server = createServer((req, res) => {
      req.resume();
      const body = JSON.stringify({ host: req.headers.host ?? "", path: req.url ?? "/", headers: req.headers });
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        [OUTSIDE_HEADER]: "true",
      });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return new OutsideWorld(server);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
