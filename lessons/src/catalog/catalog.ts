// The lessons as their directories describe them: every directory of k8s/ with a
// track.yaml is a track, and every directory in a track is a lesson with its own
// lesson.yaml beside its kustomization. Adding a lesson is adding a directory; adding a
// track (ambient mode, say) is adding a directory with a track.yaml.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { parse } from "yaml";
import { ROOT } from "../core/paths.ts";
import {
  CATALOG_LIMITS,
  CatalogError,
  DIRECTORY_NAME,
  parseLessonFile,
  parseTrackFile,
  type LessonFile,
  type TrackFile,
} from "./lesson-file.ts";

export const TRACK_FILE = "track.yaml";
export const LESSON_FILE = "lesson.yaml";

export interface Track extends TrackFile {
  /** Its directory's name: `overlays`, `gateway-api`. */
  name: string;
  dir: string;
}

export interface CatalogLesson extends LessonFile {
  /** As the commands take it: `weighted`, or `gateway-api/weighted` in a track of twins. */
  name: string;
  /** Its directory's name, shared with its twins: `weighted`. */
  base: string;
  track: Track;
  /** Absolute path of its kustomization directory. */
  dir: string;
  /** What the learner sees: its own line, or (a twin without one) its primary lesson's. */
  see: string;
}

export interface Catalog {
  /** The directory the tracks are in (k8s/ unless injected). */
  root: string;
  /** Primary first, then by their order. */
  tracks: Track[];
  /** Track by track, each in its lessons' order. */
  lessons: CatalogLesson[];
}

/** A path as errors show it: relative to the repository when inside it. */
export function shownPath(path: string): string {
  const rel = relative(ROOT, path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

function readYaml(file: string): unknown {
  const shown = shownPath(file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new CatalogError(
      `${shown}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (text.length > CATALOG_LIMITS.fileChars)
    throw new CatalogError(`${shown}: over ${CATALOG_LIMITS.fileChars} characters`);
  try {
    return parse(text);
  } catch (error) {
    throw new CatalogError(`${shown}: invalid YAML: ${(error as Error).message.split("\n")[0]}`);
  }
}

function subdirectories(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

function readTracks(root: string): Track[] {
  if (!existsSync(root) || !statSync(root).isDirectory())
    throw new CatalogError(`${shownPath(root)}: no such directory (the lessons' tracks are its subdirectories)`);
  const tracks = subdirectories(root)
    .filter((name) => existsSync(join(root, name, TRACK_FILE)))
    .map((name): Track => {
      const file = join(root, name, TRACK_FILE);
      if (!DIRECTORY_NAME.test(name))
        throw new CatalogError(
          `${shownPath(file)}: a track's directory name must be lower-case letters, digits and dashes`,
        );
      return { name, dir: join(root, name), ...parseTrackFile(readYaml(file), shownPath(file)) };
    });
  const primaries = tracks.filter((t) => t.primary);
  if (primaries.length !== 1)
    throw new CatalogError(
      `${shownPath(root)}: expected exactly one track.yaml with primary: true, found ${primaries.length}${primaries.length ? ` (${primaries.map((t) => t.name).join(", ")})` : ""}`,
    );
  for (const [i, track] of tracks.entries()) {
    const same = tracks.findIndex((t) => t.order === track.order);
    if (same !== i)
      throw new CatalogError(
        `${shownPath(join(track.dir, TRACK_FILE))}: order: ${track.order} is also the order of ${tracks[same]!.name}`,
      );
  }
  return tracks.sort((a, b) => Number(b.primary) - Number(a.primary) || a.order - b.order);
}

function readLessons(track: Track): Array<LessonFile & { base: string; dir: string; file: string }> {
  const lessons = subdirectories(track.dir).map((base) => {
    const dir = join(track.dir, base);
    const file = shownPath(join(dir, LESSON_FILE));
    if (!DIRECTORY_NAME.test(base))
      throw new CatalogError(
        `${shownPath(dir)}: a lesson's directory name must be lower-case letters, digits and dashes`,
      );
    if (!existsSync(join(dir, LESSON_FILE)))
      throw new CatalogError(
        `${file}: missing: every directory of a track is a lesson and describes itself in a lesson.yaml`,
      );
    return { base, dir, file, ...parseLessonFile(readYaml(join(dir, LESSON_FILE)), file) };
  });
  lessons.sort((a, b) => a.order - b.order);
  for (const [i, lesson] of lessons.entries()) {
    if (i > 0 && lessons[i - 1]!.order === lesson.order)
      throw new CatalogError(`${lesson.file}: order: ${lesson.order} is also the order of ${lessons[i - 1]!.base}`);
  }
  return lessons;
}

/** Reads and cross-checks every track and lesson under `root` (k8s/ unless injected). */
export function loadCatalog(root: string): Catalog {
  const tracks = readTracks(root);
  const [primary, ...twinTracks] = tracks as [Track, ...Track[]];
  const primaryLessons = new Map(readLessons(primary).map((l) => [l.base, l]));
  const lessons: CatalogLesson[] = [...primaryLessons.values()].map((l) => {
    for (const [trackName, none] of Object.entries(l.noTwin)) {
      const track = twinTracks.find((t) => t.name === trackName);
      if (!track)
        throw new CatalogError(
          `${l.file}: noTwin.${trackName}: no track ${trackName} (tracks: ${twinTracks.map((t) => t.name).join(", ") || "none"})`,
        );
      if (existsSync(join(track.dir, l.base)))
        throw new CatalogError(
          `${l.file}: noTwin.${trackName}: ${shownPath(join(track.dir, l.base))} exists, yet this says there is none ("${none.short}")`,
        );
    }
    if (l.note !== undefined)
      throw new CatalogError(
        `${l.file}: note: only a twin has a note; a primary lesson says what the learner sees under see`,
      );
    if (l.see === undefined) throw new CatalogError(`${l.file}: see: expected one line saying what the learner sees`);
    const { file: _file, ...rest } = l;
    return { ...rest, see: l.see, name: l.base, track: primary };
  });
  for (const track of twinTracks) {
    const twins = readLessons(track);
    for (const l of primaryLessons.values()) {
      if (!twins.some((t) => t.base === l.base) && !l.noTwin[track.name]) {
        throw new CatalogError(
          `${l.file}: noTwin.${track.name}: no twin ${shownPath(join(track.dir, l.base))} and no reason why there is none`,
        );
      }
    }
    for (const t of twins) {
      const twinOf = primaryLessons.get(t.base);
      if (Object.keys(t.noTwin).length > 0)
        throw new CatalogError(
          `${t.file}: noTwin: only a lesson of the primary track ${primary.name} says why it has no twin`,
        );
      if (t.seedStep !== undefined)
        throw new CatalogError(
          `${t.file}: seedStep: only a lesson of the primary track ${primary.name} is a step of the book`,
        );
      if (twinOf && t.order !== twinOf.order)
        throw new CatalogError(
          `${t.file}: order: ${t.order}, but its twin ${shownPath(twinOf.dir)} is lesson ${twinOf.order}: a twin keeps its lesson's place`,
        );
      const see = t.see ?? twinOf?.see;
      if (see === undefined)
        throw new CatalogError(
          `${t.file}: see: expected one line saying what the learner sees (it twins no lesson of ${primary.name})`,
        );
      const { file: _file, ...rest } = t;
      lessons.push({ ...rest, see, name: `${track.name}/${t.base}`, track });
    }
  }
  const steps = lessons.filter((l) => l.seedStep !== undefined);
  for (const [i, l] of steps.entries()) {
    const same = steps.findIndex((s) => s.seedStep === l.seedStep);
    if (same !== i)
      throw new CatalogError(
        `${shownPath(join(l.dir, LESSON_FILE))}: seedStep: ${l.seedStep} is also the step of ${steps[same]!.name}`,
      );
  }
  return { root, tracks, lessons };
}
