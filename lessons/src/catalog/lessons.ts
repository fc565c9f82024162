// The lessons: one kustomize overlay each under k8s/overlays/ (Istio's API)
// and, where the Gateway API can express it, its twin under k8s/gateway-api/,
// with the expected outcome in checks.yaml and what it is in lesson.yaml beside
// each kustomization. Every list here is read from those files (catalog.ts).
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "#common/usage-error.ts";
import { loadChecks, type LessonChecks } from "../checks/checks.ts";
import { KUSTOMIZATION_FILES } from "../core/overlay-files.ts";
import { K8S_DIR } from "../core/paths.ts";
import { loadCatalog, shownPath, type Catalog, type CatalogLesson } from "./catalog.ts";
import { CatalogError, type DataPlane } from "./lesson-file.ts";

/** Where the tracks are: k8s/, or the directory in $LESSONS_K8S_DIR (a test's own catalog). */
export const CATALOG_ROOT = process.env.LESSONS_K8S_DIR ? resolve(process.env.LESSONS_K8S_DIR) : K8S_DIR;

export const OVERLAYS_DIR = join(CATALOG_ROOT, "overlays");
export const GATEWAY_API_DIR = join(CATALOG_ROOT, "gateway-api");
export const AMBIENT_DIR = join(CATALOG_ROOT, "ambient");
const GATEWAY_API_TRACK = "gateway-api";

// Read once, at import; a bad lesson.yaml is kept and thrown by catalog() (so a command that
// needs the lessons says so in one line), while the lists below are then empty.
let loaded: Catalog | CatalogError;
try {
  loaded = loadCatalog(CATALOG_ROOT);
} catch (error) {
  if (!(error instanceof CatalogError)) throw error;
  loaded = error;
}

/** Every track and lesson, as their track.yaml and lesson.yaml describe them; throws a CatalogError if one is wrong. */
export function catalog(): Catalog {
  if (loaded instanceof CatalogError) throw loaded;
  return loaded;
}

const lessonsRead: CatalogLesson[] = loaded instanceof CatalogError ? [] : loaded.lessons;

/** The lessons of the primary track (Istio's API), in the order a learner takes them: k8s/overlays/<name>. */
// (Typed as never empty: a catalog always has a lesson; only a bad one leaves this empty, and then catalog() throws.)
export const LESSONS = lessonsRead.filter((l) => l.track.primary).map((l) => l.name) as unknown as readonly [
  Lesson,
  ...Lesson[],
];

/**
 * The lessons the Gateway API cannot express, and why (noTwin.gateway-api in their lesson.yaml). Each
 * stays in Istio's API only, as Istio's own docs keep a VirtualService or DestinationRule for these.
 */
export const GATEWAY_API_CANNOT: Readonly<Record<string, string>> = Object.fromEntries(
  lessonsRead.flatMap((l) => (l.noTwin[GATEWAY_API_TRACK] ? [[l.name, l.noTwin[GATEWAY_API_TRACK].why]] : [])),
);

/**
 * The lessons the Gateway API can express, in the same order: k8s/gateway-api/<name>, run as
 * gateway-api/<name>, each with its Istio-API twin's checks.
 */
export const GATEWAY_API_LESSONS: readonly string[] = lessonsRead
  .filter((l) => l.track.name === GATEWAY_API_TRACK)
  .map((l) => l.base);

/** A lesson's name: one of LESSONS, or <track>/<name> in a track of twins (gateway-api/weighted). */
export type Lesson = string;

/** Every lesson of every track: the primary track first, then each track of twins in its order. */
export function allLessons(): string[] {
  return lessonsRead.map((l) => l.name);
}

/** The lessons of the tracks whose data plane is `mode` (dataPlane in track.yaml): what one cluster can run. */
export function lessonsOfDataPlane(mode: DataPlane): string[] {
  return lessonsRead.filter((l) => l.track.dataPlane === mode).map((l) => l.name);
}

/** The lessons a cluster with sidecars runs (`verify --all`): Istio's API and the Gateway API twins. */
export function sidecarLessons(): string[] {
  return lessonsOfDataPlane("sidecar");
}

/** The lessons in ambient mode, as ambient/<name> (`verify --all --ambient`; docs/ambient.md). */
export function ambientLessons(): string[] {
  return lessonsOfDataPlane("ambient");
}

export function isAmbientLesson(name: string): boolean {
  return lessonInfo(name)?.track.dataPlane === "ambient";
}

/** The ambient lessons' directory names, in order (three exist only in ambient mode). */
export const AMBIENT_LESSONS: readonly string[] = lessonsRead
  .filter((l) => l.track.dataPlane === "ambient")
  .map((l) => l.base);

/** The lessons ambient mode cannot express, and why (noTwin.ambient in their lesson.yaml). */
export const AMBIENT_CANNOT: Readonly<Record<string, string>> = Object.fromEntries(
  lessonsRead.flatMap((l) => (l.noTwin.ambient ? [[l.name, l.noTwin.ambient.why]] : [])),
);

/** A lesson as its lesson.yaml describes it. */
export function lessonInfo(name: Lesson): CatalogLesson | undefined {
  return lessonsRead.find((l) => l.name === name);
}

/** The quick start's steps (seedStep in lesson.yaml), by lesson: run by `npm run demo` with no argument. */
export const SEED_STEPS: Record<string, string> = Object.fromEntries(
  lessonsRead.flatMap((l) => (l.seedStep === undefined ? [] : [[l.name, `seed step ${l.seedStep}`]])),
);

export const DEFAULT_LESSONS: Lesson[] = lessonsRead
  .filter((l) => l.seedStep !== undefined)
  .sort((a, b) => a.seedStep! - b.seedStep!)
  .map((l) => l.name);

export function isLesson(name: string): name is Lesson {
  return allLessons().includes(name);
}

/** For <track>/<lesson> of a lesson with no twin in that track: why, and which lesson to run instead. */
export function noTwinForm(name: string): string | undefined {
  const slash = name.indexOf("/");
  if (slash < 0) return undefined;
  const why = lessonInfo(name.slice(slash + 1))?.noTwin[name.slice(0, slash)]?.why;
  return why && `${name} is no lesson: ${why}; run ${name.slice(slash + 1)} (${lessonsRead[0]!.track.title})`;
}

/** noTwinForm for the Gateway API (the track demo and verify name in their messages). */
export const noGatewayApiForm = noTwinForm;

/** Checks lesson names; an unknown one is an error listing the lessons. */
export function parseLessons(names: string[]): Lesson[] {
  catalog();
  const refused = names.map(noGatewayApiForm).find((why) => why !== undefined);
  if (refused) throw new UsageError(refused);
  const unknown = names.filter((n) => !isLesson(n));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown lesson ${unknown.map((n) => `"${n}"`).join(", ")}; lessons: ${allLessons().join(", ")}`,
    );
  return names as Lesson[];
}

/** The lesson's kustomization as `kubectl apply -k` takes it from the repository root. */
export function lessonPath(lesson: Lesson): string {
  return shownPath(overlayDir(lesson));
}

/** The lesson's directory (for a name that is no lesson, where it would be in its track). */
export function overlayDir(lesson: Lesson): string {
  const slash = lesson.indexOf("/");
  return (
    lessonInfo(lesson)?.dir ??
    (slash < 0 ? join(OVERLAYS_DIR, lesson) : join(CATALOG_ROOT, lesson.slice(0, slash), lesson.slice(slash + 1)))
  );
}

export function checksFile(overlay: string): string {
  return join(overlay, "checks.yaml");
}

/** What demo and verify run: a lesson, or any directory holding a kustomization (a playground). */
export interface LessonTarget {
  /** The lesson's name, or the directory as given. */
  name: string;
  /** Absolute path of the kustomization directory. */
  dir: string;
  /** The directory as `kubectl apply -k` takes it from where the learner typed the command. */
  display: string;
  /** Its checks.yaml; required for a lesson, optional for a playground. */
  checks?: LessonChecks;
}

/**
 * Resolves a command-line argument: a lesson name wins; otherwise a directory
 * (relative to `base`, where the learner typed the command) with a kustomization.
 */
export async function resolveTarget(arg: string, base: string): Promise<LessonTarget> {
  catalog();
  if (isLesson(arg)) {
    const dir = overlayDir(arg);
    return { name: arg, dir, display: lessonPath(arg), checks: await loadChecks(checksFile(dir)) };
  }
  const dir = resolve(base, arg);
  const isDir = existsSync(dir) && statSync(dir).isDirectory();
  if (!isDir || !KUSTOMIZATION_FILES.some((f) => existsSync(join(dir, f)))) {
    const refused = noGatewayApiForm(arg);
    if (refused) throw new UsageError(refused);
    throw new UsageError(
      `"${arg}" is neither a lesson nor a directory with a kustomization.yaml; lessons: ${allLessons().join(", ")}`,
    );
  }
  const target: LessonTarget = { name: arg, dir, display: arg };
  if (existsSync(checksFile(dir))) target.checks = await loadChecks(checksFile(dir));
  return target;
}
