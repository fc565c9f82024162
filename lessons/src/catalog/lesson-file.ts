// What a lesson says about itself (`lesson.yaml` beside its kustomization) and what a
// track says about itself (`track.yaml` in the track's directory), parsed and validated
// once: unknown fields, wrong types and sizes are one-line errors naming the file and
// the field, in the style of checks.yaml (checks/checks.ts).
import { isIntegerIn, rangeText, type Range } from "#common/bounded.ts";

export class CatalogError extends Error {}

/** One JSON-patch operation (RFC 6902) of a way to break a lesson. */
export interface PatchOp {
  op: "add" | "remove" | "replace";
  path: string;
  value?: unknown;
}

/** Operations on one object of the lesson's render, as a kustomize `patches:` entry. */
export interface LessonPatch {
  target: { kind: string; name: string };
  ops: PatchOp[];
}

/** How the broken-lesson tests break a lesson on purpose: its checks must then fail. */
export interface Breakage {
  /** What is broken, one line (the test's name). */
  what: string;
  patches: LessonPatch[];
  /** Which of the lesson's checks still pass once broken, in order; unset: at least one fails. */
  passes?: boolean[];
}

/** Why a lesson has no twin in another track. */
export interface NoTwin {
  /** A few words for the README table ("no fault injection"). */
  short: string;
  /** The reason in full, as demo and verify give it. */
  why: string;
}

export interface LessonFile {
  order: number;
  /** What the learner sees, one line (the README table); a twin without it shows its primary lesson's. */
  see?: string;
  /** The book's quick-start step this lesson is (`npm run demo` with no argument runs these). */
  seedStep?: number;
  /** For a twin: a few words on how it differs ("experimental channel"). */
  note?: string;
  /** For a primary lesson: per other track (its directory name), why it has no twin there. */
  noTwin: Record<string, NoTwin>;
  broken?: Breakage;
  /** Why there is no way to break it (a lesson with no rules). */
  unbreakable?: string;
}

export interface TrackFile {
  order: number;
  /** The track's name in tables and headings ("Gateway API"). */
  title: string;
  /** The primary track's lessons run by bare name; the others' as <track dir>/<name>, twins of the primary's. */
  primary: boolean;
  /**
   * The data plane its lessons need on a cluster: `sidecar` (the default) or `ambient` (Istio's ambient
   * profile, docs/ambient.md). `cluster up --ambient` and `verify --all --ambient` take the ambient tracks,
   * the plain commands the others: one cluster runs one mode.
   */
  dataPlane: DataPlane;
}

export const DATA_PLANES = ["sidecar", "ambient"] as const;
export type DataPlane = (typeof DATA_PLANES)[number];

/** Every limit of the two files, explicit. */
export const CATALOG_LIMITS = {
  fileChars: 64 * 1024,
  order: { min: 1, max: 999 },
  seedStep: { min: 1, max: 99 },
  lineChars: 300,
  shortChars: 60,
  patches: 10,
  ops: 20,
  passes: 100,
} as const;

const LESSON_FIELDS = ["order", "see", "seedStep", "note", "noTwin", "broken", "unbreakable"];
const TRACK_FIELDS = ["order", "title", "primary", "dataPlane"];
const BREAKAGE_FIELDS = ["what", "patches", "passes"];
const PATCH_FIELDS = ["target", "ops"];
const TARGET_FIELDS = ["kind", "name"];
const OP_FIELDS = ["op", "path", "value"];
const NO_TWIN_FIELDS = ["short", "why"];
const OPS = ["add", "remove", "replace"] as const;
/** A directory name that can be a lesson's or a track's: a DNS label, as the commands and paths take it. */
export const DIRECTORY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function fail(file: string, field: string, message: string): never {
  throw new CatalogError(`${file}: ${field}: ${message}`);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mapping(value: unknown, file: string, field: string, known: readonly string[]): Record<string, unknown> {
  if (!isMapping(value)) fail(file, field, `expected a mapping with ${known.join(", ")}`);
  const unknown = Object.keys(value).find((k) => !known.includes(k));
  if (unknown !== undefined)
    fail(file, field === "(top level)" ? unknown : `${field}.${unknown}`, `unknown field (known: ${known.join(", ")})`);
  return value;
}

function integer(value: unknown, file: string, field: string, limits: Range): number {
  if (!isIntegerIn(value, limits))
    fail(file, field, `expected an integer ${rangeText(limits)}, got ${JSON.stringify(value)}`);
  return value;
}

/** One line of text: not empty, no line break, at most `max` characters. */
function line(value: unknown, file: string, field: string, max: number = CATALOG_LIMITS.lineChars): string {
  if (typeof value !== "string" || value.trim() === "")
    fail(file, field, `expected one line of text, got ${JSON.stringify(value)}`);
  if (/[\r\n]/.test(value)) fail(file, field, "expected one line of text, got a line break");
  if (value.length > max) fail(file, field, `expected at most ${max} characters, got ${value.length}`);
  return value;
}

function list(value: unknown, file: string, field: string, max: number): unknown[] {
  if (!Array.isArray(value) || value.length === 0) fail(file, field, "expected a non-empty list");
  if (value.length > max) fail(file, field, `expected at most ${max} items, got ${value.length}`);
  return value;
}

function patchOp(value: unknown, file: string, at: string): PatchOp {
  const v = mapping(value, file, at, OP_FIELDS);
  if (!OPS.includes(v.op as PatchOp["op"]))
    fail(file, `${at}.op`, `expected one of ${OPS.join(", ")}, got ${JSON.stringify(v.op)}`);
  if (typeof v.path !== "string" || !v.path.startsWith("/"))
    fail(file, `${at}.path`, `expected a JSON pointer such as /spec/http/0/timeout, got ${JSON.stringify(v.path)}`);
  const op = v.op as PatchOp["op"];
  if (op === "remove" && "value" in v) fail(file, `${at}.value`, "a remove takes no value");
  if (op !== "remove" && !("value" in v)) fail(file, `${at}.value`, `an ${op} needs a value`);
  return op === "remove" ? { op, path: v.path } : { op, path: v.path, value: v.value };
}

function patch(value: unknown, file: string, at: string): LessonPatch {
  const v = mapping(value, file, at, PATCH_FIELDS);
  const target = mapping(v.target, file, `${at}.target`, TARGET_FIELDS);
  return {
    target: {
      kind: line(target.kind, file, `${at}.target.kind`, CATALOG_LIMITS.shortChars),
      name: line(target.name, file, `${at}.target.name`, CATALOG_LIMITS.shortChars),
    },
    ops: list(v.ops, file, `${at}.ops`, CATALOG_LIMITS.ops).map((op, i) => patchOp(op, file, `${at}.ops[${i}]`)),
  };
}

function breakage(value: unknown, file: string): Breakage {
  const v = mapping(value, file, "broken", BREAKAGE_FIELDS);
  const result: Breakage = {
    what: line(v.what, file, "broken.what"),
    patches: list(v.patches, file, "broken.patches", CATALOG_LIMITS.patches).map((p, i) =>
      patch(p, file, `broken.patches[${i}]`),
    ),
  };
  if (v.passes !== undefined) {
    result.passes = list(v.passes, file, "broken.passes", CATALOG_LIMITS.passes).map((p, i) => {
      if (typeof p !== "boolean") fail(file, `broken.passes[${i}]`, `expected true or false, got ${JSON.stringify(p)}`);
      return p;
    });
    if (result.passes.every(Boolean))
      fail(file, "broken.passes", "at least one check must fail once the lesson is broken");
  }
  return result;
}

function noTwins(value: unknown, file: string): Record<string, NoTwin> {
  if (value === undefined) return {};
  if (!isMapping(value)) fail(file, "noTwin", "expected a mapping of track directories to {short, why}");
  const result: Record<string, NoTwin> = {};
  for (const [track, entry] of Object.entries(value)) {
    if (!DIRECTORY_NAME.test(track))
      fail(file, `noTwin.${track}`, "expected a track's directory name, such as gateway-api");
    const v = mapping(entry, file, `noTwin.${track}`, NO_TWIN_FIELDS);
    result[track] = {
      short: line(v.short, file, `noTwin.${track}.short`, CATALOG_LIMITS.shortChars),
      why: line(v.why, file, `noTwin.${track}.why`),
    };
  }
  return result;
}

/** Validates the parsed content of a lesson.yaml; `file` names it in errors. */
export function parseLessonFile(value: unknown, file: string): LessonFile {
  const v = mapping(value, file, "(top level)", LESSON_FIELDS);
  const result: LessonFile = {
    order: integer(v.order, file, "order", CATALOG_LIMITS.order),
    noTwin: noTwins(v.noTwin, file),
  };
  if (v.see !== undefined) result.see = line(v.see, file, "see");
  if (v.seedStep !== undefined) result.seedStep = integer(v.seedStep, file, "seedStep", CATALOG_LIMITS.seedStep);
  if (v.note !== undefined) result.note = line(v.note, file, "note", CATALOG_LIMITS.shortChars);
  if (v.broken !== undefined && v.unbreakable !== undefined)
    fail(file, "unbreakable", "a lesson has either broken or unbreakable, not both");
  if (v.broken !== undefined) result.broken = breakage(v.broken, file);
  else if (v.unbreakable !== undefined) result.unbreakable = line(v.unbreakable, file, "unbreakable");
  else
    fail(
      file,
      "broken",
      "expected how to break the lesson for its negative test (or unbreakable: why there is no way)",
    );
  return result;
}

/** Validates the parsed content of a track.yaml; `file` names it in errors. */
export function parseTrackFile(value: unknown, file: string): TrackFile {
  const v = mapping(value, file, "(top level)", TRACK_FIELDS);
  if (v.primary !== undefined && typeof v.primary !== "boolean")
    fail(file, "primary", `expected true or false, got ${JSON.stringify(v.primary)}`);
  return {
    order: integer(v.order, file, "order", CATALOG_LIMITS.order),
    title: line(v.title, file, "title", CATALOG_LIMITS.shortChars),
    primary: v.primary === true,
    dataPlane: dataPlaneOf(v.dataPlane, file),
  };
}

function dataPlaneOf(value: unknown, file: string): DataPlane {
  if (value === undefined) return "sidecar";
  if (typeof value !== "string" || !(DATA_PLANES as readonly string[]).includes(value))
    fail(file, "dataPlane", `expected ${DATA_PLANES.join(" or ")}, got ${JSON.stringify(value)}`);
  return value as DataPlane;
}
