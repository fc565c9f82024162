// `npm run lesson-table`: writes the README's lesson table from each lesson's lesson.yaml
// (lessons/src/catalog/readme-table.ts). test/docs/lesson-table.test.ts fails until it is run.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { catalog } from "#lessons/catalog/lessons.ts";
import { lessonTable, TABLE_BEGIN, TABLE_END, withLessonTable } from "#lessons/catalog/readme-table.ts";
import { ROOT } from "#lessons/core/paths.ts";

const file = join(ROOT, "README.md");
try {
  const updated = withLessonTable(readFileSync(file, "utf8"), lessonTable(catalog()));
  if (updated === undefined)
    throw new Error(`README.md has no ${TABLE_BEGIN} ... ${TABLE_END} to write the table between`);
  writeFileSync(file, updated);
  console.log("README.md: lesson table written");
} catch (error) {
  console.error(`lesson-table: ${(error as Error).message}`);
  process.exitCode = 1;
}
