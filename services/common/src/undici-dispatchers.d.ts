// Types for the undici dispatcher modules that flaskapp and tally load on their
// own instead of undici's index, which would also load fetch, WebSocket, the
// caches and mocks, and with them node:tls, crypto, http2, zlib and web
// streams (bench/RESULTS.md, "changes"). undici publishes types for its index
// only; each of these files exports one of the index's classes.
declare module "undici/lib/dispatcher/agent.js" {
  import { Agent } from "undici";
  export = Agent;
}

declare module "undici/lib/dispatcher/proxy-agent.js" {
  import { ProxyAgent } from "undici";
  export = ProxyAgent;
}

declare module "undici/lib/dispatcher/pool.js" {
  import { Pool } from "undici";
  export = Pool;
}
