// The platform's limit: node:http with no framework, answering every request
// with the bytes flaskapp sends for /env/version when version=v1. Also the
// upstream for the /fetch comparison. Usage: node bench/bare-server.ts PORT (or PORT in the environment)
import { createServer } from "node:http";

const BODY = Buffer.from("v1");
const port = Number(process.argv[2] ?? process.env.PORT);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error("usage: node bench/bare-server.ts PORT (1-65535)");
  process.exit(2);
}

createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": BODY.length });
  res.end(BODY);
}).listen(port, "127.0.0.1");
