// The reference for cold start: the few lines of node:http a learner would write, run as
// they are (no bundle, no TypeScript). Listens on PORT (127.0.0.1) and answers every request.
import { createServer } from "node:http";

createServer((_req, res) => res.end("ok")).listen(Number(process.env.PORT), "127.0.0.1");
