// npm run demo whole, as a learner runs it first (moved here from the unit suite,
// which checks the same pieces in process: demoTargets for the no-argument case,
// and each lesson under each release in lessons.test.ts).
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { catalog } from "#lessons/catalog/lessons.ts";
import { runProgram } from "#lessons/core/run.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const demo = (args: string[]) =>
  runProgram(process.execPath, ["lessons/src/cli/demo.ts", ...args], 90_000, { cwd: ROOT });

describe("npm run demo", () => {
  it("with no argument runs the seed's steps 5 and 6 and passes both", async () => {
    const { code, stdout } = await demo([]);
    expect(stdout).toMatch(
      /== round-robin \(seed step 5\)[\s\S]*PASS {2}v1 and v2[\s\S]*== v2-default \(seed step 6\)[\s\S]*PASS {2}only v2[\s\S]*all checks passed/,
    );
    expect(code).toBe(0);
  });

  it("--istio 1.27 models 1.27: mirrored copies get Host flaskapp-shadow", async () => {
    const { code, stdout } = await demo(["--istio", "1.27", "mirror"]);
    expect(stdout).toContain("Istio 1.27 defaults");
    expect(stdout).toContain("all with Host *-shadow");
    expect(code).toBe(0);
  });

  it("--all runs every lesson of every track, ends with one summary table, and exits 0", async () => {
    const { code, stdout, stderr } = await runProgram(process.execPath, ["lessons/src/cli/demo.ts", "--all"], 600_000, {
      cwd: ROOT,
    });
    expect(code, stderr).toBe(0);
    const table = stdout
      .slice(stdout.lastIndexOf("\nlesson ") + 1)
      .trimEnd()
      .split("\n");
    expect(table[0]).toMatch(/^lesson +track +result +checks +time$/);
    const rows = table.slice(1, -2).map((row) => row.split(/ {2,}/));
    expect(rows.map((r) => [r[0], r[1], r[2]])).toEqual(catalog().lessons.map((l) => [l.name, l.track.title, "PASS"]));
    for (const row of rows) expect(row[3]).toMatch(/^(\d+)\/\1$/);
    expect(table.at(-1)).toBe("all checks passed");
  }, 600_000);
});
