// The house rules of the source tree, checked over every import of every TypeScript
// file (read with es-module-lexer, type-only imports included): no circle of imports
// anywhere, lessons/src's layers import only downward, packages reach each other only
// by their package.json names (#lessons/, #common/, ...) and only in allowed directions.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { init, parse } from "es-module-lexer";
import { beforeAll, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SOURCE_DIRS = ["services", "lessons", "scripts", "bench", "test"];
const ALIASES: Record<string, string> = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).imports;

/** lessons/src's layers, lowest first: a module may import its own layer and those below. */
const LAYERS = ["core", "mesh", "checks", "catalog", "cluster", "cli"] as const;
/** Layers that sit beside cli at the top (entry points and what only they use). */
const TOP_LAYERS: Record<string, number> = { view: LAYERS.length - 1 };

/** Which packages each package may import by name; tests, benchmarks and scripts may import any. */
const PACKAGE_DEPENDENCIES: Record<string, readonly string[]> = {
  "services/common/src": [],
  "services/flaskapp/src": ["services/common/src"],
  "services/sleep/src": ["services/common/src"],
  "lessons/src": ["services/common/src", "services/sleep/src", "services/flaskapp/src"],
};

interface Edge {
  from: string;
  to: string;
  specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" || entry.name === "fixtures" ? [] : sourceFiles(path);
    return /\.ts$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The repository path an import names, or undefined for a package from node_modules or node:. */
function resolveSpecifier(
  importer: string,
  specifier: string,
  aliases: Record<string, string> = ALIASES,
): string | undefined {
  if (specifier.startsWith(".")) return relative(ROOT, resolve(ROOT, dirname(importer), specifier));
  for (const [pattern, target] of Object.entries(aliases)) {
    const prefix = pattern.replace(/\*$/, "");
    if (specifier.startsWith(prefix)) return join(target.replace(/\*$/, ""), specifier.slice(prefix.length));
  }
  return undefined;
}

function packageOf(path: string): string | undefined {
  return Object.keys(PACKAGE_DEPENDENCIES).find((pkg) => path.startsWith(`${pkg}/`));
}

function layerOf(path: string): number | undefined {
  const match = /^lessons\/src\/([^/]+)\//.exec(path);
  if (!match) return undefined;
  const layer = LAYERS.indexOf(match[1] as (typeof LAYERS)[number]);
  return layer >= 0 ? layer : TOP_LAYERS[match[1]!];
}

/** Every circle in the graph (strongly connected components of more than one file, or a file importing itself). */
function cycles(edges: readonly Pick<Edge, "from" | "to">[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1 || (next.get(node) ?? []).includes(node)) found.push(component.sort());
  };
  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return found;
}

let edges: Edge[] = [];

beforeAll(async () => {
  await init;
  edges = SOURCE_DIRS.flatMap(sourceFiles).flatMap((file) => {
    const [imports] = parse(readFileSync(join(ROOT, file), "utf8"), file);
    return imports.flatMap((imp) => {
      const specifier = imp.specifier;
      const to = specifier == null ? undefined : resolveSpecifier(file, specifier);
      return specifier == null || to === undefined ? [] : [{ from: file, to, specifier }];
    });
  });
});

describe("the import graph", () => {
  it("is read: hundreds of imports, type-only ones included", () => {
    expect(edges.length).toBeGreaterThan(400);
    expect(edges.some((e) => e.from === "lessons/src/mesh/model.ts" && e.to === "lessons/src/mesh/releases.ts")).toBe(
      true,
    );
  });

  it("has no circle of imports anywhere", () => {
    expect(cycles(edges)).toEqual([]);
  });

  it("lessons/src imports only its own layer or a lower one", () => {
    const upward = edges.filter((e) => {
      const from = layerOf(e.from);
      const to = layerOf(e.to);
      return from !== undefined && to !== undefined && to > from;
    });
    expect(upward.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it("every file of lessons/src is in a layer", () => {
    const loose = sourceFiles("lessons/src").filter((f) => layerOf(f) === undefined);
    expect(loose).toEqual([]);
  });

  it("packages reach each other by name, and only where allowed", () => {
    const wrong = edges.flatMap((e) => {
      const from = packageOf(e.from);
      const to = packageOf(e.to);
      if (from === undefined || from === to) return [];
      if (to === undefined) return [`${e.from} imports ${e.specifier}, outside any package`];
      if (!PACKAGE_DEPENDENCIES[from]!.includes(to))
        return [`${e.from} imports ${e.specifier}: ${from} may not depend on ${to}`];
      if (e.specifier.startsWith("."))
        return [`${e.from} imports ${e.specifier} by path: use its package name (package.json imports)`];
      return [];
    });
    expect(wrong).toEqual([]);
  });

  it("tests, benchmarks and scripts reach the packages by name, never by ../../", () => {
    const byPath = edges.filter((e) => !packageOf(e.from) && packageOf(e.to) && e.specifier.startsWith("."));
    expect(byPath.map((e) => `${e.from}: ${e.specifier}`)).toEqual([]);
  });
});

describe("cycles", () => {
  it.each([
    ["no edges", [], []],
    [
      "a chain",
      [
        ["a", "b"],
        ["b", "c"],
      ],
      [],
    ],
    [
      "a pair",
      [
        ["a", "b"],
        ["b", "a"],
      ],
      [["a", "b"]],
    ],
    [
      "a triangle beside a chain",
      [
        ["a", "b"],
        ["b", "c"],
        ["c", "a"],
        ["c", "d"],
      ],
      [["a", "b", "c"]],
    ],
    ["a file importing itself", [["a", "a"]], [["a"]]],
  ] as const)("%s", (_, pairs, expected) => {
    expect(cycles(pairs.map(([from, to]) => ({ from, to })))).toEqual(expected);
  });
});

describe("resolveSpecifier", () => {
  it.each([
    ["lessons/src/mesh/proxy.ts", "./routing.ts", "lessons/src/mesh/routing.ts"],
    ["lessons/src/cli/demo.ts", "../core/paths.ts", "lessons/src/core/paths.ts"],
    ["test/lessons/x.test.ts", "#lessons/mesh/config.ts", "lessons/src/mesh/config.ts"],
    ["lessons/src/mesh/pods.ts", "#flaskapp/code-cache.ts", "services/flaskapp/src/code-cache.ts"],
    ["lessons/src/mesh/pods.ts", "node:child_process", undefined],
    ["lessons/src/mesh/proxy.ts", "undici", undefined],
  ])("%s imports %s", (importer, specifier, expected) => {
    expect(resolveSpecifier(importer, specifier)).toBe(expected);
  });
});
