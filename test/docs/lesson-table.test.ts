// The README's lesson table is the one each lesson's lesson.yaml makes (npm run lesson-table
// writes it): a lesson added, removed or reworded without the table rewritten fails here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { catalog } from "#lessons/catalog/lessons.ts";
import { lessonTable, TABLE_BEGIN, TABLE_END, withLessonTable } from "#lessons/catalog/readme-table.ts";
import { ROOT } from "#lessons/core/paths.ts";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");

describe("the README's lesson table", () => {
  it("is between its markers", () => {
    expect(readme).toContain(TABLE_BEGIN);
    expect(readme.indexOf(TABLE_END)).toBeGreaterThan(readme.indexOf(TABLE_BEGIN));
  });

  it("is the one the lessons' lesson.yaml make (run npm run lesson-table after editing one)", () => {
    expect(withLessonTable(readme, lessonTable(catalog()))).toBe(readme);
  });

  it("has one row per lesson of Istio's API, in order, each saying twin or why there is none", () => {
    const rows = lessonTable(catalog()).split("\n").slice(2);
    expect(rows.map((r) => /npm run lesson -- ([\w-]+)/.exec(r)![1])).toEqual(
      catalog()
        .lessons.filter((l) => l.track.primary)
        .map((l) => l.name),
    );
    for (const row of rows) expect(row).toMatch(/ \| (twin( \(.+\))?|none: .+) \|$/);
  });
});
