// Types for the undici dispatcher modules that flaskapp and tally load on their
// own instead of undici's index, which would also load fetch, WebSocket, the
// caches and mocks, and with them node:tls, crypto, http2, zlib and web
// streams (bench/RESULTS.md, "changes"). undici publishes types for its index
// only. Loaded this way, a dispatcher has dispatch(), close() and destroy(),
// but not request(), stream(), pipeline(), connect() or upgrade(): the index
// adds those to every dispatcher, so the types leave them out.
declare namespace UndiciDispatchOnly {
  type Of<T> = Omit<T, "request" | "stream" | "pipeline" | "connect" | "upgrade">;
  type Class<C extends abstract new (...args: never[]) => unknown> = new (
    ...args: ConstructorParameters<C>
  ) => Of<InstanceType<C>>;
}

declare module "undici/lib/dispatcher/agent.js" {
  const Agent: UndiciDispatchOnly.Class<typeof import("undici").Agent>;
  export = Agent;
}

declare module "undici/lib/dispatcher/proxy-agent.js" {
  const ProxyAgent: UndiciDispatchOnly.Class<typeof import("undici").ProxyAgent>;
  export = ProxyAgent;
}

declare module "undici/lib/dispatcher/pool.js" {
  const Pool: UndiciDispatchOnly.Class<typeof import("undici").Pool>;
  export = Pool;
}
