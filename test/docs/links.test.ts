// Every relative link in the repository's documents leads somewhere: the file
// exists, and a #fragment names a heading of it (GitHub's anchor rules).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DOCUMENTS = [
  "README.md",
  "DEVELOPMENT.md",
  "SECURITY.md",
  "bench/RESULTS.md",
  "services/flaskapp/README.md",
  "services/sleep/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
}

function links(file: string): Array<{ target: string; fragment?: string }> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!)
    .filter((href) => !/^[a-z]+:/i.test(href))
    .map((href) => {
      const [path, fragment] = href.split("#");
      return { target: path ? join(dirname(file), path) : file, ...(fragment ? { fragment } : {}) };
    });
}

describe("links in the documents", () => {
  it("finds the documents", () => {
    for (const doc of DOCUMENTS) expect(existsSync(join(ROOT, doc)), doc).toBe(true);
  });

  it.each(DOCUMENTS)("%s: every relative link resolves", (doc) => {
    const broken = links(join(ROOT, doc)).flatMap(({ target, fragment }) => {
      const where = relative(ROOT, target) + (fragment ? `#${fragment}` : "");
      if (!existsSync(target)) return [`${where}: no such file`];
      if (fragment && target.endsWith(".md") && !anchors(target).has(fragment)) return [`${where}: no such heading`];
      return [];
    });
    expect(broken).toEqual([]);
  });

  it.each([
    ["On a cluster", "on-a-cluster"],
    ["`npm run cluster -- up | down | diagnose`", "npm-run-cluster----up--down--diagnose"],
    ["Limits: what keeps a pod alive", "limits-what-keeps-a-pod-alive"],
  ])("anchorOf(%j) is %s", (heading, anchor) => {
    expect(anchorOf(heading)).toBe(anchor);
  });
});

describe("the README's first section", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const first = readme.slice(
    readme.indexOf("## See the lessons work"),
    readme.indexOf("\n## ", readme.indexOf("## See the lessons work") + 1),
  );
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));

  it("names kubectl and Node.js with their versions and where to get them", () => {
    expect(first).toMatch(
      /\*\*`kubectl` 1\.\d+ or newer\*\* \(\[[^\]]+\]\(https:\/\/kubernetes\.io\/docs\/tasks\/tools\/\)\)/,
    );
    expect(first).toMatch(
      /\*\*Node\.js \d+ or newer, with its npm\*\* \(\[[^\]]+\]\(https:\/\/nodejs\.org\/en\/download\)\)/,
    );
  });

  it("says which Node the scripts run on: the node devDependency, engines.node's major", () => {
    const major = pkg.devDependencies.node.split(".")[0];
    expect(pkg.engines.node).toBe(`>=${major}`);
    expect(first).toContain(`\`npm ci\` installs Node ${major} (the \`node\` devDependency)`);
  });

  it("says what happens without kubectl, and explains the older Node's warnings where they appear", () => {
    expect(first).toContain("Without `kubectl`, `npm run demo` and `npm test` stop with one line saying so");
    expect(first).toContain("EBADENGINE");
    expect(first).toContain("`node dist/tally.js` on the older Node stops with one\nline pointing to `npx tally`");
  });

  it("says to edit checks.yaml alongside the rules of a playground", () => {
    expect(first).toContain("edit\n`checks.yaml` alongside the rules");
  });
});
