import { describe, expect, it } from "vitest";
import { primeRouteParams, samplePath } from "#flaskapp/route-params.ts";
import { makeApp } from "./helpers.ts";

describe("samplePath", () => {
  it.each([
    ["/env/:name", "/env/x"],
    ["/status/:code", "/status/x"],
    ["/headers/:name", "/headers/x"],
    ["/a/:first/b/:second_2", "/a/x/b/x"],
    ["/:$id", "/x"],
  ])("%s is matched by %s", (template, sample) => {
    expect(samplePath(template)).toBe(sample);
  });

  it.each(["/", "/readyz", "/fetch_with_header", "/a:", "/a/:/b", "/:9"])(
    "%s has no parameter: undefined",
    (template) => {
      expect(samplePath(template)).toBeUndefined();
    },
  );
});

interface Layer {
  route?: { path?: unknown };
  match(path: string): { params: Record<string, string> } | false;
}
const stackOf = (router: unknown): Layer[] => (router as { stack: Layer[] }).stack;
const parameterized = (stack: Layer[]): Layer[] =>
  stack.filter((layer) => typeof layer.route?.path === "string" && (layer.route.path as string).includes(":"));

describe("primeRouteParams", () => {
  it("matches every parameterized route of the app, each with its parameter filled", () => {
    const { app } = makeApp();
    const layers = parameterized(stackOf(app.router));
    expect(layers.map((layer) => layer.route!.path)).toEqual(
      expect.arrayContaining(["/env/:name", "/headers/:name", "/status/:code", "/delay/:seconds"]),
    );
    for (const layer of layers) {
      const match = layer.match(samplePath(layer.route!.path as string)!);
      expect(match, String(layer.route!.path)).not.toBe(false);
      expect(Object.values((match as { params: Record<string, string> }).params)).toContain("x");
    }
    expect(primeRouteParams(app.router)).toBe(layers.length);
  });

  it("covers the routes FAIL_STATUS adds ahead of each route", () => {
    const plain = parameterized(stackOf(makeApp().app.router)).length;
    const { app } = makeApp({ FAIL_STATUS: "503" });
    expect(primeRouteParams(app.router)).toBe(parameterized(stackOf(app.router)).length);
    expect(primeRouteParams(app.router)).toBeGreaterThan(plain);
  });

  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a router without a stack", {}],
    ["a stack that is not an array", { stack: "layers" }],
    [
      "layers without a route or a match function",
      { stack: [null, {}, { route: { path: "/env/:name" } }, { route: { path: 7 }, match: () => true }] },
    ],
  ])("leaves %s alone: 0, no error", (_what, router) => {
    expect(primeRouteParams(router)).toBe(0);
  });
});
