// The lessons as their own directories describe them (lesson.yaml, track.yaml): the lists
// every command and test reads, the strict reading of both files, and the proof that adding
// a lesson (or a track) is adding a directory: a temporary one shows up in the list, in
// `npm run demo -- --all` and in the README's lesson table check.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadCatalog } from "#lessons/catalog/catalog.ts";
import { CATALOG_LIMITS, CatalogError, parseLessonFile, parseTrackFile } from "#lessons/catalog/lesson-file.ts";
import {
  allLessons,
  ambientLessons,
  catalog,
  DEFAULT_LESSONS,
  GATEWAY_API_CANNOT,
  GATEWAY_API_LESSONS,
  LESSONS,
  lessonPath,
  noTwinForm,
  overlayDir,
  SEED_STEPS,
  sidecarLessons,
} from "#lessons/catalog/lessons.ts";
import { lessonTable, withLessonTable } from "#lessons/catalog/readme-table.ts";
import { K8S_DIR, ROOT } from "#lessons/core/paths.ts";
import { runProgram } from "#lessons/core/run.ts";

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The lists as they were written by hand before each lesson described itself: they must not have moved. */
const ISTIO_API = [
  "round-robin",
  "v2-default",
  "weighted",
  "header-canary",
  "source-labels",
  "fetch-chain",
  "header-manipulation",
  "rewrite-redirect",
  "ingress-gateway",
  "egress-service-entry",
  "timeout",
  "retries",
  "fault-delay",
  "fault-abort",
  "circuit-breaker",
  "outlier-ejection",
  "session-affinity",
  "mirror",
];
const NO_TWIN = [
  "source-labels",
  "egress-service-entry",
  "fault-delay",
  "fault-abort",
  "circuit-breaker",
  "outlier-ejection",
  "session-affinity",
];

describe("the lessons, read from their directories", () => {
  it("lists Istio's API in the learner's order, then the Gateway API twins in the same order", () => {
    expect(LESSONS).toEqual(ISTIO_API);
    expect(Object.keys(GATEWAY_API_CANNOT).sort()).toEqual([...NO_TWIN].sort());
    expect(GATEWAY_API_LESSONS).toEqual(ISTIO_API.filter((l) => !NO_TWIN.includes(l)));
    expect(allLessons()).toEqual([
      ...ISTIO_API,
      ...GATEWAY_API_LESSONS.map((l) => `gateway-api/${l}`),
      ...ambientLessons(),
    ]);
    expect(sidecarLessons()).toEqual([...ISTIO_API, ...GATEWAY_API_LESSONS.map((l) => `gateway-api/${l}`)]);
  });

  it("keeps names, paths and the quick start's steps", () => {
    expect(lessonPath("weighted")).toBe("k8s/overlays/weighted");
    expect(lessonPath("gateway-api/weighted")).toBe("k8s/gateway-api/weighted");
    expect(overlayDir("gateway-api/mirror")).toBe(join(K8S_DIR, "gateway-api", "mirror"));
    expect(DEFAULT_LESSONS).toEqual(["round-robin", "v2-default"]);
    expect(SEED_STEPS).toEqual({ "round-robin": "seed step 5", "v2-default": "seed step 6" });
    expect(noTwinForm("gateway-api/fault-delay")).toBe(
      "gateway-api/fault-delay is no lesson: the Gateway API has no fault injection: no filter delays a request; run fault-delay (Istio's API)",
    );
    expect(noTwinForm("gateway-api/weighted")).toBeUndefined();
  });

  it("gives each twin its primary lesson's place and, unless it has its own, its line", () => {
    // Ambient's l4-only, enrol-waypoint and ingress-waypoint twin no lesson: they have a line of their own.
    const twins = catalog().lessons.filter(
      (l) => !l.track.primary && catalog().lessons.some((p) => p.track.primary && p.base === l.base),
    );
    for (const twin of twins) {
      const primary = catalog().lessons.find((l) => l.track.primary && l.base === twin.base)!;
      expect([twin.order, twin.see]).toEqual([primary.order, primary.see]);
    }
  });

  it("gives every lesson a way to break it, or says why there is none (round-robin has no rule)", () => {
    expect(
      catalog()
        .lessons.filter((l) => !l.broken)
        .map((l) => [l.name, l.unbreakable]),
    ).toEqual([["round-robin", "no rules: the Service's own balancing is the lesson, so there is no rule to break"]]);
  });
});

describe("lesson.yaml and track.yaml are read strictly", () => {
  const valid = {
    order: 3,
    see: "about 70% v1",
    broken: {
      what: "weights swapped",
      patches: [
        { target: { kind: "VirtualService", name: "flaskapp" }, ops: [{ op: "remove", path: "/spec/http/0/mirror" }] },
      ],
    },
  };
  const f = "k8s/overlays/x/lesson.yaml";

  it("reads a valid file", () => {
    expect(parseLessonFile(valid, f)).toEqual({ ...valid, noTwin: {} });
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      "an unknown field",
      { ...valid, title: "x" },
      `${f}: title: unknown field (known: order, see, seedStep, note, noTwin, broken, unbreakable)`,
    ],
    ["an order of 0", { ...valid, order: 0 }, `${f}: order: expected an integer from 1 to 999, got 0`],
    ["an order as text", { ...valid, order: "3" }, `${f}: order: expected an integer from 1 to 999, got "3"`],
    ["two lines in see", { ...valid, see: "a\nb" }, `${f}: see: expected one line of text, got a line break`],
    [
      "a see over the limit",
      { ...valid, see: "x".repeat(CATALOG_LIMITS.lineChars + 1) },
      `${f}: see: expected at most ${CATALOG_LIMITS.lineChars} characters, got ${CATALOG_LIMITS.lineChars + 1}`,
    ],
    [
      "no way to break it",
      { order: 1, see: "x" },
      `${f}: broken: expected how to break the lesson for its negative test (or unbreakable: why there is no way)`,
    ],
    [
      "both broken and unbreakable",
      { ...valid, unbreakable: "x" },
      `${f}: unbreakable: a lesson has either broken or unbreakable, not both`,
    ],
    [
      "an unknown op",
      {
        ...valid,
        broken: { ...valid.broken, patches: [{ target: { kind: "A", name: "b" }, ops: [{ op: "move", path: "/a" }] }] },
      },
      `${f}: broken.patches[0].ops[0].op: expected one of add, remove, replace, got "move"`,
    ],
    [
      "a replace without a value",
      {
        ...valid,
        broken: {
          ...valid.broken,
          patches: [{ target: { kind: "A", name: "b" }, ops: [{ op: "replace", path: "/a" }] }],
        },
      },
      `${f}: broken.patches[0].ops[0].value: an replace needs a value`,
    ],
    [
      "a path that is no pointer",
      {
        ...valid,
        broken: {
          ...valid.broken,
          patches: [{ target: { kind: "A", name: "b" }, ops: [{ op: "remove", path: "spec" }] }],
        },
      },
      `${f}: broken.patches[0].ops[0].path: expected a JSON pointer such as /spec/http/0/timeout, got "spec"`,
    ],
    [
      "a target without a name",
      {
        ...valid,
        broken: { ...valid.broken, patches: [{ target: { kind: "A" }, ops: [{ op: "remove", path: "/a" }] }] },
      },
      `${f}: broken.patches[0].target.name: expected one line of text, got undefined`,
    ],
    [
      "too many patches",
      {
        ...valid,
        broken: { ...valid.broken, patches: Array(CATALOG_LIMITS.patches + 1).fill(valid.broken.patches[0]) },
      },
      `${f}: broken.patches: expected at most ${CATALOG_LIMITS.patches} items, got ${CATALOG_LIMITS.patches + 1}`,
    ],
    [
      "passes that all pass",
      { ...valid, broken: { ...valid.broken, passes: [true, true] } },
      `${f}: broken.passes: at least one check must fail once the lesson is broken`,
    ],
    [
      "a pass as text",
      { ...valid, broken: { ...valid.broken, passes: ["no"] } },
      `${f}: broken.passes[0]: expected true or false, got "no"`,
    ],
    [
      "a noTwin without why",
      { ...valid, noTwin: { "gateway-api": { short: "x" } } },
      `${f}: noTwin.gateway-api.why: expected one line of text, got undefined`,
    ],
    [
      "a noTwin with a short over the limit",
      { ...valid, noTwin: { "gateway-api": { short: "x".repeat(61), why: "y" } } },
      `${f}: noTwin.gateway-api.short: expected at most 60 characters, got 61`,
    ],
  ])("refuses %s with one line naming the file and the field", (_what, value, message) => {
    expect(() => parseLessonFile(value, f)).toThrow(new CatalogError(message));
  });

  it("refuses a track.yaml with an unknown field, or primary that is no boolean", () => {
    expect(() => parseTrackFile({ order: 1, title: "Istio's API", prefix: "" }, "t.yaml")).toThrow(
      "t.yaml: prefix: unknown field (known: order, title, primary, dataPlane)",
    );
    expect(() => parseTrackFile({ order: 1, title: "Istio API", primary: "yes" }, "t.yaml")).toThrow(
      't.yaml: primary: expected true or false, got "yes"',
    );
    expect(() => parseTrackFile({ order: 3, title: "Ambient", dataPlane: "sidecarless" }, "t.yaml")).toThrow(
      't.yaml: dataPlane: expected sidecar or ambient, got "sidecarless"',
    );
    expect(parseTrackFile({ order: 3, title: "Ambient", dataPlane: "ambient" }, "t.yaml").dataPlane).toBe("ambient");
    expect(parseTrackFile({ order: 2, title: "Gateway API" }, "t.yaml").dataPlane).toBe("sidecar");
  });

  it("every lesson.yaml of the repository's own tracks reads back to the same values (no field is lost)", () => {
    for (const lesson of catalog().lessons) {
      const raw = parse(readFileSync(join(lesson.dir, "lesson.yaml"), "utf8"));
      expect(parseLessonFile(raw, lesson.name)).toMatchObject({ order: raw.order });
    }
  });
});

/**
 * A catalog of its own in a temp directory: the shared parts (app, components, flaskapp)
 * copied, each track with only the lessons named, so a test can add or break one.
 */
function smallCatalog(lessons: Record<string, string[]>): string {
  const root = mkdtempSync(join(tmpdir(), "lessons-catalog-"));
  temps.push(root);
  for (const shared of ["app", "components", "flaskapp"])
    cpSync(join(K8S_DIR, shared), join(root, shared), { recursive: true });
  for (const [track, names] of Object.entries(lessons)) {
    mkdirSync(join(root, track));
    cpSync(join(K8S_DIR, track, "track.yaml"), join(root, track, "track.yaml"));
    for (const name of names) cpSync(join(K8S_DIR, track, name), join(root, track, name), { recursive: true });
  }
  return root;
}

/** A new lesson: a copy of v2-default under another name, with its own lesson.yaml. */
function addLesson(root: string, name: string, lessonYaml: string): void {
  cpSync(join(K8S_DIR, "overlays", "v2-default"), join(root, "overlays", name), { recursive: true });
  writeFileSync(join(root, "overlays", name, "lesson.yaml"), lessonYaml);
}

const NEW_LESSON = `order: 2
see: only v2, from a lesson added as a directory
noTwin:
  gateway-api: { short: "a test's own lesson", why: "a lesson added by a test has no twin" }
unbreakable: a copy for the catalog test
`;

describe("adding a lesson is adding a directory", () => {
  const root = smallCatalog({ overlays: ["round-robin"], "gateway-api": ["round-robin"] });
  addLesson(root, "added-lesson", NEW_LESSON);

  it("is in the list, in its place", () => {
    expect(loadCatalog(root).lessons.map((l) => l.name)).toEqual([
      "round-robin",
      "added-lesson",
      "gateway-api/round-robin",
    ]);
  });

  it("is in the README table, and the docs check sees the README lacks it", () => {
    const table = lessonTable(loadCatalog(root));
    expect(table.split("\n")).toContain(
      "| 2 | `npm run lesson -- added-lesson` | only v2, from a lesson added as a directory | none: a test's own lesson |",
    );
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(withLessonTable(readme, table)).not.toBe(readme);
  });

  it("is run by npm run demo -- --all, with the catalog root in LESSONS_K8S_DIR", async () => {
    const run = await runProgram(process.execPath, ["lessons/src/cli/demo.ts", "--all"], 60_000, {
      cwd: ROOT,
      env: { ...process.env, LESSONS_K8S_DIR: root },
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const table = run.stdout.slice(run.stdout.lastIndexOf("\nlesson "));
    expect(table).toMatch(/^round-robin +Istio's API +PASS +1\/1 +\d+\.\ds$/m);
    expect(table).toMatch(/^added-lesson +Istio's API +PASS +1\/1 +\d+\.\ds$/m);
    expect(table).toMatch(/^gateway-api\/round-robin +Gateway API +PASS +1\/1 +\d+\.\ds$/m);
  }, 60_000);

  it("a third track is a directory with a track.yaml: its lessons are <track>/<name>, with a column of their own", () => {
    const third = smallCatalog({ overlays: ["round-robin", "weighted"], "gateway-api": ["round-robin", "weighted"] });
    mkdirSync(join(third, "ambient"));
    writeFileSync(join(third, "ambient", "track.yaml"), "order: 3\ntitle: Ambient\n");
    cpSync(join(K8S_DIR, "gateway-api", "round-robin"), join(third, "ambient", "round-robin"), { recursive: true });
    expect(() => loadCatalog(third)).toThrow(
      `${join(third, "overlays/weighted/lesson.yaml")}: noTwin.ambient: no twin ${join(third, "ambient/weighted")} and no reason why there is none`,
    );
    const weighted = join(third, "overlays", "weighted", "lesson.yaml");
    writeFileSync(
      weighted,
      `${readFileSync(weighted, "utf8")}noTwin:\n  ambient: { short: not yet, why: "the ambient track has no weighted lesson yet" }\n`,
    );
    const read = loadCatalog(third);
    expect(read.lessons.map((l) => l.name)).toEqual([
      "round-robin",
      "weighted",
      "gateway-api/round-robin",
      "gateway-api/weighted",
      "ambient/round-robin",
    ]);
    expect(lessonTable(read).split("\n").slice(0, 4)).toEqual([
      "| # | on a cluster | what you see | Gateway API | Ambient |",
      "|---|---|---|---|---|",
      `| 1 | \`npm run lesson -- round-robin\` | ${catalog().lessons[0]!.see} | twin | twin |`,
      `| 3 | \`npm run lesson -- weighted\` | ${catalog().lessons[2]!.see} | twin | none: not yet |`,
    ]);
  });

  it.each<[string, (root: string) => void, string]>([
    [
      "a lesson directory without lesson.yaml",
      (r) => rmSync(join(r, "overlays", "round-robin", "lesson.yaml")),
      "overlays/round-robin/lesson.yaml: missing: every directory of a track is a lesson and describes itself in a lesson.yaml",
    ],
    [
      "two lessons in one place",
      (r) => addLesson(r, "again", NEW_LESSON.replace("order: 2", "order: 1")),
      "overlays/round-robin/lesson.yaml: order: 1 is also the order of again",
    ],
    [
      "a twin out of its lesson's place",
      (r) =>
        writeFileSync(
          join(r, "gateway-api", "round-robin", "lesson.yaml"),
          readFileSync(join(r, "gateway-api", "round-robin", "lesson.yaml"), "utf8").replace("order: 1", "order: 4"),
        ),
      "gateway-api/round-robin/lesson.yaml: order: 4, but its twin",
    ],
    [
      "a reason for a twin that exists",
      (r) =>
        writeFileSync(
          join(r, "overlays", "round-robin", "lesson.yaml"),
          `${readFileSync(join(r, "overlays", "round-robin", "lesson.yaml"), "utf8")}noTwin:\n  gateway-api: { short: x, why: y }\n`,
        ),
      "overlays/round-robin/lesson.yaml: noTwin.gateway-api:",
    ],
    [
      "no primary track",
      (r) => writeFileSync(join(r, "overlays", "track.yaml"), "order: 1\ntitle: Istio API\n"),
      "expected exactly one track.yaml with primary: true, found 0",
    ],
    [
      "invalid YAML",
      (r) => writeFileSync(join(r, "overlays", "round-robin", "lesson.yaml"), "order: [1\n"),
      "overlays/round-robin/lesson.yaml: invalid YAML: ",
    ],
  ])("refuses %s, naming the file", (_what, breakIt, message) => {
    const broken = smallCatalog({ overlays: ["round-robin"], "gateway-api": ["round-robin"] });
    breakIt(broken);
    expect(() => loadCatalog(broken)).toThrow(CatalogError);
    expect(() => loadCatalog(broken)).toThrow(message);
  });

  it("a bad lesson.yaml stops npm run demo with one line naming it (exit 1), never a stack", async () => {
    const broken = smallCatalog({ overlays: ["round-robin"], "gateway-api": ["round-robin"] });
    writeFileSync(
      join(broken, "overlays", "round-robin", "lesson.yaml"),
      "order: 1\nsee: x\nunbreakable: y\ncolour: red\n",
    );
    const run = await runProgram(process.execPath, ["lessons/src/cli/demo.ts", "round-robin"], 30_000, {
      cwd: ROOT,
      env: { ...process.env, LESSONS_K8S_DIR: broken },
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `demo: ${join(broken, "overlays/round-robin/lesson.yaml")}: colour: unknown field (known: order, see, seedStep, note, noTwin, broken, unbreakable)\n`,
    );
  });
});
