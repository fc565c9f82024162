// Each lesson's checks catch the lesson's rule being wrong: a copy of the lesson with its
// key rule broken on purpose, as its lesson.yaml says under `broken`, fails in the mesh
// preview: at least one check, or (where `broken.passes` says which) exactly those.
// Every lesson of every track is here, read from its own directory.
import { afterAll, describe, expect, it } from "vitest";
import { catalog } from "#lessons/catalog/lessons.ts";
import { loadChecks } from "#lessons/checks/checks.ts";
import { previewOverlay } from "#lessons/checks/preview.ts";
import { breakagePatches, overlayOver, removeOverlays } from "../lessons/overlay.ts";

afterAll(removeOverlays);

const breakable = catalog().lessons.flatMap((l) => (l.broken ? [[l.name, l.broken.what, l] as const] : []));

describe("a lesson with its rule broken fails its checks", () => {
  it("covers every lesson but those whose lesson.yaml says why none can be broken", () => {
    expect(
      catalog()
        .lessons.filter((l) => !l.broken)
        .every((l) => l.unbreakable),
    ).toBe(true);
    expect(breakable.length).toBeGreaterThan(catalog().lessons.length - 3);
  });

  it.each(breakable)(
    "%s with %s",
    async (name, _what, lesson) => {
      const broken = lesson.broken!;
      if (broken.passes)
        expect(broken.passes, "broken.passes: one entry per check").toHaveLength(
          (await loadChecks(`${lesson.dir}/checks.yaml`)).checks.length,
        );
      let report = "";
      const results = await previewOverlay(overlayOver(name, breakagePatches(broken)), { write: (t) => (report += t) });
      if (broken.passes)
        expect(
          results.map((r) => r.passed),
          report,
        ).toEqual(broken.passes);
      else expect(results.filter((r) => !r.passed).length, report).toBeGreaterThan(0);
      expect(report).toMatch(/^FAIL {2}/m);
    },
    90_000,
  );
});
