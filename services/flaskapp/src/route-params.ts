// Each route with a parameter (/env/:name, /status/:code ...) is matched once
// when the app is made, so that every later match stays on V8's fast path.
//
// The router (path-to-regexp) stores a matched parameter under its name,
// `params[key.name] = value`, where the name is a string its parser built. The
// first such store makes V8 intern that string. If it happens while the string
// is young, the next young-generation collection points the parser's key
// straight at the interned copy. If it happens after the string was promoted,
// as when a pod's first request is a probe on a route without parameters, the
// key stays an indirection for the life of the process: the store's inline
// cache compares keys by identity, misses on every request and takes V8's
// runtime path. That cost `/env/version` about a tenth of its CPU per request
// (bench/RESULTS.md, change 14). Matching is pure, so doing it here changes
// nothing else.

/** What this needs of a router layer (express 5's router, `app.router.stack`). */
interface RouterLayer {
  route?: { path?: unknown };
  match?: (path: string) => unknown;
}

/** A path the route template matches, with `x` for each `:name` parameter; undefined for a template without one. */
export function samplePath(template: string): string | undefined {
  const sample = template.replace(/:[A-Za-z_$][\w$]*/g, "x");
  return sample === template ? undefined : sample;
}

/**
 * Matches each route layer whose template has a parameter against its sample
 * path; returns how many matched. Anything that is not a router with a stack
 * of layers is left alone (0): a missed optimisation, never a failed start.
 */
export function primeRouteParams(router: unknown): number {
  const stack = (router as { stack?: unknown } | null | undefined)?.stack;
  if (!Array.isArray(stack)) return 0;
  let primed = 0;
  for (const layer of stack as RouterLayer[]) {
    const template = layer?.route?.path;
    if (typeof template !== "string" || typeof layer.match !== "function") continue;
    const sample = samplePath(template);
    if (sample !== undefined && layer.match(sample)) primed++;
  }
  return primed;
}
