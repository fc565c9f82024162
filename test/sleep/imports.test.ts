// tally's modules import one way (issue 28): no circle of imports in services/sleep/src
// or the common code it uses, type-only imports and re-exports included.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("../..", import.meta.url).pathname;
const FOLDERS = ["services/sleep/src", "services/common/src"];

/** Every relative `import ... from "./x.ts"` and `export ... from "./x.ts"` of each .ts file, as paths from the root. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const folder of FOLDERS) {
    for (const name of readdirSync(join(ROOT, folder)).filter((n) => n.endsWith(".ts"))) {
      const file = join(ROOT, folder, name);
      const source = readFileSync(file, "utf8");
      const targets = [...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.[^"]+)"/gm)].map((m) =>
        relative(ROOT, resolve(dirname(file), m[1]!)),
      );
      graph.set(relative(ROOT, file), targets);
    }
  }
  return graph;
}

/** The first circle found, as the files around it, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe("tally's imports", () => {
  it("form no circle", () => {
    const graph = importGraph();
    expect(graph.get("services/sleep/src/args.ts")).toContain("services/sleep/src/types.ts");
    expect(findCycle(graph)).toBeUndefined();
  });

  it("the check finds a circle when there is one", () => {
    expect(
      findCycle(
        new Map([
          ["a", ["b"]],
          ["b", ["c"]],
          ["c", ["a"]],
        ]),
      ),
    ).toEqual(["a", "b", "c", "a"]);
    expect(
      findCycle(
        new Map([
          ["a", ["b", "c"]],
          ["b", ["c"]],
          ["c", []],
        ]),
      ),
    ).toBeUndefined();
  });
});
