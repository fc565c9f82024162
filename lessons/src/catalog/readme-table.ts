// The README's lesson table, made from the lessons' own lesson.yaml: one row per lesson of
// the primary track, one column per track of twins saying "twin" or why there is none.
// `npm run lesson-table` writes it into README.md; test/docs/lesson-table.test.ts checks it is current.
import type { Catalog, CatalogLesson, Track } from "./catalog.ts";

/** The comments around the table in README.md. */
export const TABLE_BEGIN =
  "<!-- lesson-table: made from each lesson's lesson.yaml by `npm run lesson-table`; do not edit by hand -->";
export const TABLE_END = "<!-- /lesson-table -->";

function twinCell(lesson: CatalogLesson, track: Track, catalog: Catalog): string {
  const twin = catalog.lessons.find((l) => l.track === track && l.base === lesson.base);
  if (twin) return twin.note ? `twin (${twin.note})` : "twin";
  const none = lesson.noTwin[track.name];
  return none ? `none: ${none.short}` : "";
}

/** The table in Markdown, one line per row. */
export function lessonTable(catalog: Catalog): string {
  const twinTracks = catalog.tracks.filter((t) => !t.primary);
  const rows = catalog.lessons
    .filter((l) => l.track.primary)
    .map((l) => [
      String(l.order),
      `\`npm run lesson -- ${l.name}\``,
      l.see,
      ...twinTracks.map((t) => twinCell(l, t, catalog)),
    ]);
  const header = ["#", "on a cluster", "what you see", ...twinTracks.map((t) => t.title)];
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [row(header), `|${header.map(() => "---").join("|")}|`, ...rows.map(row)].join("\n");
}

/** The README with its table (between TABLE_BEGIN and TABLE_END) replaced; undefined if the markers are missing. */
export function withLessonTable(readme: string, table: string): string | undefined {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) return undefined;
  return `${readme.slice(0, begin + TABLE_BEGIN.length)}\n${table}\n${readme.slice(end)}`;
}
