// The bundles started on a Node older than they support: one line naming the Node they
// need and exit 2, whatever the rest of the bundle would need from a newer Node.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BUNDLES, MIN_NODE_MAJOR, OLD_NODE_EXIT } from "../../scripts/build.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
/** Debian bookworm's own Node (20): the older Node these machines have beside the npm package's 24. */
const OLD_NODE = "/usr/bin/node";
const oldMajor = existsSync(OLD_NODE)
  ? Number(spawnSync(OLD_NODE, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" }).stdout.trim())
  : NaN;

describe("the bundles on an older Node", () => {
  it("tally's line says to run npx tally, which runs on the project's Node", () => {
    expect(BUNDLES.find((b) => b.program === "tally")!.onOldNode).toContain("npx tally");
  });

  it("require the Node that package.json's engines names", () => {
    expect(MIN_NODE_MAJOR).toBe(
      Number(/\d+/.exec(JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).engines.node)![0]),
    );
  });

  it.each(BUNDLES.map((b) => [b.out, b.program] as const))(
    "%s has no static import but the banner's, so linking cannot fail before the check",
    (out) => {
      const text = readFileSync(`${ROOT}${out}`, "utf8");
      expect(text.indexOf("process.versions.node")).toBeLessThan(text.indexOf("import"));
      expect([...text.matchAll(/\bimport\s*\{[^}]*\}\s*from\s*"[^"]*"/g)].map((m) => m[0])).toEqual([
        'import { createRequire as __createRequire } from "node:module"',
      ]);
    },
  );

  it.runIf(oldMajor < MIN_NODE_MAJOR).each(BUNDLES.map((b) => [b.out, b.program] as const))(
    `%s on ${OLD_NODE} (Node ${oldMajor}) prints one line naming Node ${MIN_NODE_MAJOR} and exits ${OLD_NODE_EXIT}`,
    (out, program) => {
      const args = program === "tally" ? ["--help"] : [];
      const run = spawnSync(OLD_NODE, [`${ROOT}${out}`, ...args], {
        encoding: "utf8",
        timeout: 15_000,
        env: { PATH: process.env.PATH, PORT: "0" },
      });
      expect(run.status).toBe(OLD_NODE_EXIT);
      expect(run.stdout).toBe("");
      const hint = BUNDLES.find((b) => b.program === program)!.onOldNode;
      expect(run.stderr).toMatch(
        new RegExp(
          `^${program}: needs Node\\.js ${MIN_NODE_MAJOR} or newer, but this is Node\\.js ${oldMajor}\\.\\d+\\.\\d+; ${hint.replaceAll(".", "\\.")}\\n$`,
        ),
      );
    },
  );

  if (!(oldMajor < MIN_NODE_MAJOR)) {
    it.skip(`on an older Node: skipped, no Node older than ${MIN_NODE_MAJOR} at ${OLD_NODE} on this machine`, () =>
      undefined);
  }
});
