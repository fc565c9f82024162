// The table of ported and skipped upstream cases (docs/mesh-preview.md, "Held to
// upstream's tests") and the suite stay in step: every case marked pass has a
// test carrying its name here, at least 40 pass, and every other row says why.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const doc = readFileSync(join(ROOT, "docs/mesh-preview.md"), "utf8");
const section = doc.slice(doc.indexOf("## Held to upstream's tests"));
const rows = [...section.matchAll(/^\| (istio [^|]+|gateway-api[^|]*) \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => ({
  suite: m[1]!.trim(),
  name: m[2]!.trim(),
  result: m[3]!.trim(),
}));
const sources = readdirSync(join(ROOT, "test/conformance"))
  .filter((f) => f.endsWith(".test.ts") && f !== "table.test.ts")
  .map((f) => readFileSync(join(ROOT, "test/conformance", f), "utf8"))
  .join("\n");

describe("the table of upstream cases", () => {
  const passing = rows.filter((r) => r.result.startsWith("pass"));
  it("ports at least 40 upstream cases", () => {
    expect(passing.length).toBeGreaterThanOrEqual(40);
  });

  it.each(passing.map((r) => [r.name.replace(/^consistentHashCases: /, "")]))("%s has a test of that name", (name) => {
    expect(sources.includes(name), `no test in test/conformance names ${name}`).toBe(true);
  });

  it("every case not ported says why", () => {
    const unexplained = rows.filter(
      (r) => !r.result.startsWith("pass") && !/^not (modelled|ported[^:]*): .{10,}/.test(r.result),
    );
    expect(unexplained).toEqual([]);
  });
});
