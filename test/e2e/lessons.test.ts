// Every lesson of every track (Istio's API, the Gateway API twins, ambient mode) passes its checks in the
// mesh preview under every Istio release the preview models (npm run
// test:lessons; the unit suite runs one lesson end to end).
import { describe, expect, it } from "vitest";
import { allLessons, isAmbientLesson, overlayDir } from "#lessons/catalog/lessons.ts";
import { RELEASES } from "#lessons/mesh/releases.ts";
import { previewOverlay } from "#lessons/checks/preview.ts";

describe.each(RELEASES.map((r) => [r.version, r] as const))("Istio %s", (_version, release) => {
  it.each(allLessons())(
    "%s passes its checks",
    async (lesson) => {
      let report = "";
      const results = await previewOverlay(overlayDir(lesson), { write: (t) => (report += t), release });
      expect(results.length).toBeGreaterThan(0);
      expect(
        results.filter((r) => !r.passed),
        report,
      ).toEqual([]);
      expect(report).toMatch(/^PASS {2}/m);
      // An ambient lesson runs on ztunnel and waypoints, never on sidecars (docs/ambient.md).
      expect(report.includes("preview: ambient mode (ztunnel, no sidecars)")).toBe(isAmbientLesson(lesson));
    },
    90_000,
  );
});
