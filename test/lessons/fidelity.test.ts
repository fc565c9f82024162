// The preview's fidelity reference (docs/mesh-preview.md) and the tests stay
// in step: every row of its behaviour table has at least one test carrying its
// id in the name, and every id a test carries is a row.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findRelease, LESSON_RELEASES, NEWEST_RELEASE, RELEASES } from "#lessons/mesh/releases.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const reference = readFileSync(join(ROOT, "docs/mesh-preview.md"), "utf8");
const rows = [...reference.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]!);
const testFiles = readdirSync(join(ROOT, "test/lessons")).filter(
  (f) => f.endsWith(".test.ts") && f !== "fidelity.test.ts",
);
/** The ids at the start of test and describe titles: "[mirror] [default-retry] …". */
const tagged = new Set(
  testFiles.flatMap((f) =>
    [
      ...readFileSync(join(ROOT, "test/lessons", f), "utf8").matchAll(
        /(?:it|describe)(?:\.each\([\s\S]*?\))?\(\s*"((?:\[[a-z0-9-]+\] )+)/g,
      ),
    ].flatMap((m) => [...m[1]!.matchAll(/\[([a-z0-9-]+)\]/g)].map((t) => t[1]!)),
  ),
);

describe("docs/mesh-preview.md and the tests", () => {
  it("lists behaviours", () => {
    expect(rows.length).toBeGreaterThan(20);
    expect(new Set(rows).size).toBe(rows.length);
  });

  it.each(rows)("row %s has a test named after it", (id) => {
    expect(tagged.has(id), `no test in test/lessons carries [${id}] in its name`).toBe(true);
  });

  it("every id a test carries is a row", () => {
    const known = new Set(rows);
    expect([...tagged].filter((id) => !known.has(id))).toEqual([]);
  });

  it("the releases table lists the releases the preview models", () => {
    for (const r of RELEASES) expect(reference).toMatch(new RegExp(`^\\| ${r.version.replace(".", "\\.")} \\|`, "m"));
  });
});

describe("[releases] the modelled Istio releases", () => {
  it.each([
    ["1.31", "1.31"],
    ["1.30.5", "1.30"],
    [" 1.27 ", "1.27"],
    ["1.26", undefined],
    ["1.32", undefined],
    ["latest", undefined],
  ])("findRelease(%j) is %s", (text, version) => {
    expect(findRelease(text)?.version).toBe(version);
  });

  it("the lessons are written for the newest three minors, the newest modelled by default", () => {
    expect(LESSON_RELEASES.map((r) => r.version)).toEqual(["1.29", "1.30", "1.31"]);
    expect(NEWEST_RELEASE.version).toBe("1.31");
    expect(RELEASES.filter((r) => r.supportedUpstream).map((r) => r.version)).toEqual(["1.30", "1.31"]);
  });

  it("only 1.27 appends -shadow to mirrored Hosts; no modelled release retries a 503 by default", () => {
    expect(RELEASES.filter((r) => r.shadowHostSuffix).map((r) => r.version)).toEqual(["1.27"]);
    expect(RELEASES.every((r) => r.defaultRetry.retriableStatusCodes.length === 0)).toBe(true);
  });
});
