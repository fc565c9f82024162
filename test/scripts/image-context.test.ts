// The images build their bundles from a context that .dockerignore cuts down to a few
// files: the build step each Dockerfile runs must succeed with exactly those, or the
// image build fails where no unit test looks (a new bundle whose sources are outside
// the context did just that).
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = new URL("../..", import.meta.url).pathname;
const DOCKERFILES = ["Dockerfile.flaskapp", "Dockerfile.sleep"];

/** The paths .dockerignore lets in: it ignores everything (`*`) and lists exceptions with `!`. */
function contextPaths(): string[] {
  const lines = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
  expect(lines).toContain("*");
  return lines.filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, ""));
}

/** The Dockerfile's build step: its one `RUN npm run build ...`, as arguments. */
function buildStep(dockerfile: string): string[] {
  const runs = readFileSync(join(ROOT, dockerfile), "utf8")
    .split("\n")
    .filter((l) => /^RUN npm run build\b/.test(l));
  expect(runs).toHaveLength(1);
  return runs[0]!.replace(/^RUN /, "").split(/\s+/);
}

const context = mkdtempSync(join(tmpdir(), "image-context-"));
afterAll(() => rmSync(context, { recursive: true, force: true }));

describe("the images' build step in their build context", () => {
  it("both Dockerfiles run the same build step", () => {
    expect(buildStep(DOCKERFILES[1]!)).toEqual(buildStep(DOCKERFILES[0]!));
  });

  it("builds flaskapp's and tally's bundles from the files .dockerignore lets in, and nothing else", async () => {
    for (const path of contextPaths()) cpSync(join(ROOT, path), join(context, path), { recursive: true });
    expect(existsSync(join(context, "lessons"))).toBe(false);
    // npm ci's result, as in the build stage (node_modules itself is no part of the context).
    symlinkSync(join(ROOT, "node_modules"), join(context, "node_modules"));
    const [command, ...args] = buildStep(DOCKERFILES[0]!);
    const child = spawn(command!, args, { cwd: context, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code, output).toBe(0);
    for (const bundle of ["dist/flaskapp.js", "dist/flaskapp-app.cjs", "dist/tally.js"]) {
      expect(existsSync(join(context, bundle)), bundle).toBe(true);
    }
  }, 120_000);
});
