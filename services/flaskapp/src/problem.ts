// RFC 9457 problem responses: every error flaskapp sends, with its real status.
import { STATUS_CODES } from "./node-http.ts";
import type { ErrorRequestHandler, Response } from "express";
import type { Logger } from "pino";

/** Thrown (or passed to next) by handlers to answer with a problem response. */
export class Problem extends Error {
  readonly status: number;
  constructor(status: number, detail: string) {
    super(detail);
    this.status = status;
  }
}

export function sendProblem(res: Response, status: number, detail: string): void {
  res
    .status(status)
    .type("application/problem+json")
    .send(JSON.stringify({ title: STATUS_CODES[status] ?? "Error", status, detail }));
}

function clientErrorStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && status >= 400 && status < 500 ? status : undefined;
}

/**
 * The last handler: problems and express's own client errors (such as a
 * malformed percent-encoding, 400) keep their status; anything else is a 500
 * whose details go to the log, never to the client.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      logger.warn({ err: error, path: req.path }, "error after the response started; connection closed");
      res.destroy();
      return;
    }
    if (error instanceof Problem) return sendProblem(res, error.status, error.message);
    const status = clientErrorStatus(error);
    if (status !== undefined) return sendProblem(res, status, error instanceof Error ? error.message : "bad request");
    logger.error({ err: error, method: req.method, path: req.path }, "unhandled error");
    sendProblem(res, 500, "internal error; see the server log");
  };
}
