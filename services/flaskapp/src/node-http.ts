// node:http for flaskapp's modules, taken with process.getBuiltinModule() on
// purpose. An ESM `import ... from "node:http"` makes Node 24 build the
// module's ESM facade, which reads every export, including the lazy WebSocket,
// CloseEvent and MessageEvent getters that load Node's internal copy of undici:
// measured at about a third of the cold start (bench/RESULTS.md). express requires it too.
export const { createServer, IncomingMessage, ServerResponse, STATUS_CODES } = process.getBuiltinModule("node:http");
