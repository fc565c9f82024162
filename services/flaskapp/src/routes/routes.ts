// What a route module is handed to register its routes: app.ts builds it, each module in
// this folder uses it, so the modules never import the app that imports them.
import type { RequestHandler } from "express";

/** How route modules register: `get` serves GET and HEAD (other methods get 405), `any` serves every method. */
export interface Routes {
  get(path: string, handler: RequestHandler): void;
  any(path: string, handler: RequestHandler): void;
}
