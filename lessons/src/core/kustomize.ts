// Renders a kustomization with the real kustomize built into kubectl, after reading
// everything it reaches (overlay-files.ts), with kustomize under a memory and a time limit.
import { parseAllDocuments } from "yaml";
import { checkDuration, checkWholeNumber, rangeText } from "#common/bounded.ts";
import { DURATION_FORM, formatDuration } from "#common/duration.ts";
import { UsageError } from "#common/usage-error.ts";
import { preReadOverlay, type OverlayReadOptions } from "./overlay-files.ts";
import { NOT_INSTALLED, notInstalled, runProgram } from "./run.ts";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  spec?: any;
  [key: string]: unknown;
}

/** A render larger than this is refused (ours are a few KiB). */
export const RENDER_MAX_CHARS = 16 * 1024 * 1024;

export class RenderError extends Error {}

export interface RenderLimits {
  /** kubectl kustomize's address space (prlimit --as), in MiB. */
  memoryMiB: number;
  timeoutMs: number;
  /** The program that sets the memory limit; when it is not installed kustomize runs with the time limit only. */
  prlimit: string;
}

/**
 * The environment variables that set the render's limits, and their ranges. kubectl (Go)
 * reserves address space before it reads anything: it fails to start at 512 MiB and starts at
 * 768 (measured with kubectl 1.32); a normal render then uses about 80 MiB of memory. At 1 GiB a 420-byte YAML alias bomb in a
 * resource is stopped in about half a second (measured), where unbounded it took 17 GB.
 */
export const RENDER_LIMIT_SETTINGS = {
  memory: { name: "RENDER_MAX_MEMORY_MIB", range: { min: 64, max: 65_536 }, fallback: 1024 },
  timeout: { name: "RENDER_TIMEOUT", range: { min: 1_000, max: 600_000 }, fallback: 60_000 },
} as const;

export const DEFAULT_RENDER_LIMITS: RenderLimits = {
  memoryMiB: RENDER_LIMIT_SETTINGS.memory.fallback,
  timeoutMs: RENDER_LIMIT_SETTINGS.timeout.fallback,
  prlimit: "prlimit",
};

/** The render's limits from the environment (RENDER_LIMIT_SETTINGS); a bad value is a usage error naming the variable. */
export function renderLimits(env: Readonly<Record<string, string | undefined>>): RenderLimits {
  const { memory, timeout } = RENDER_LIMIT_SETTINGS;
  const limits = { ...DEFAULT_RENDER_LIMITS };
  const rawMemory = env[memory.name];
  if (rawMemory !== undefined) {
    const checked = checkWholeNumber(rawMemory.trim(), memory.range);
    if (!checked.ok)
      throw new UsageError(
        `${memory.name}=${JSON.stringify(rawMemory.slice(0, 40))}: expected a whole number of MiB ${rangeText(memory.range)}`,
      );
    limits.memoryMiB = checked.value;
  }
  const rawTimeout = env[timeout.name];
  if (rawTimeout !== undefined) {
    const checked = checkDuration(rawTimeout.trim(), timeout.range);
    if (!checked.ok)
      throw new UsageError(
        `${timeout.name}=${JSON.stringify(rawTimeout.slice(0, 40))}: expected ${DURATION_FORM}, ${rangeText(timeout.range, true)}`,
      );
    limits.timeoutMs = checked.value;
  }
  return limits;
}

export interface RenderOptions extends OverlayReadOptions {
  render?: RenderLimits;
}

/** Go's runtime when an allocation fails under the address-space limit. */
const OUT_OF_MEMORY = /fatal error: out of memory|failed to reserve|cannot allocate memory|runtime: out of memory/;

/** A label selector's matchLabels (or a Service's selector, a subset's labels) against an object's labels: every pair present. */
export function labelsMatch(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * Runs `kubectl kustomize DIR` and returns the rendered objects: first reads what the
 * kustomization reaches (preReadOverlay: no remote entry unless allowed, files and YAML
 * aliases bounded), then renders under `prlimit --as` and a time limit.
 */
export async function renderKustomization(dir: string, options: RenderOptions = {}): Promise<K8sObject[]> {
  const limits = options.render ?? DEFAULT_RENDER_LIMITS;
  await preReadOverlay(dir, options);
  const kubectl = ["kubectl", "kustomize", dir];
  let run = await runProgram(limits.prlimit, [`--as=${limits.memoryMiB * 1024 * 1024}`, ...kubectl], limits.timeoutMs);
  if (notInstalled(run, limits.prlimit)) run = await runProgram(kubectl[0]!, kubectl.slice(1), limits.timeoutMs);
  if (run.code === NOT_INSTALLED) {
    throw new RenderError(
      "kubectl is not installed or not on PATH: it is needed to render the kustomize overlays (https://kubernetes.io/docs/tasks/tools/)",
    );
  }
  const { memory, timeout } = RENDER_LIMIT_SETTINGS;
  if (run.timedOut)
    throw new RenderError(
      `kubectl kustomize ${dir}: stopped after ${formatDuration(limits.timeoutMs)}, the render's time limit (${timeout.name})`,
    );
  if (run.code !== 0 && OUT_OF_MEMORY.test(run.stderr)) {
    throw new RenderError(
      `kubectl kustomize ${dir}: out of memory under the render's limit of ${limits.memoryMiB} MiB (${memory.name}): an overlay this large, or a YAML alias bomb, is not rendered`,
    );
  }
  if (run.code !== 0)
    throw new RenderError(`kubectl kustomize ${dir} failed: ${kustomizeError(run.stderr) || `exit code ${run.code}`}`);
  if (run.stdout.length > RENDER_MAX_CHARS)
    throw new RenderError(`kubectl kustomize ${dir}: the render is over ${RENDER_MAX_CHARS} characters`);
  return parseManifests(run.stdout);
}

/** kustomize's error without kubectl's log prefix (`E1125 10:26:28.899 run.go:72] "command failed" err="..."`). */
export function kustomizeError(stderr: string): string {
  const err = /err="((?:[^"\\]|\\.)*)"/.exec(stderr)?.[1];
  return (err === undefined ? stderr : err.replace(/\\(.)/g, "$1")).trim();
}

/** Parses a multi-document YAML stream into objects, skipping empty documents. */
export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new RenderError(`invalid YAML: ${doc.errors[0]!.message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((obj): obj is K8sObject => obj !== null && typeof obj === "object");
}
