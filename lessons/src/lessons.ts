// The lessons: one kustomize overlay each under k8s/overlays/, with its
// expected outcome in checks.yaml beside the kustomization.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { loadChecks, type LessonChecks } from "./checks.ts";

export const OVERLAYS_DIR = fileURLToPath(new URL("../../k8s/overlays/", import.meta.url));

export const LESSONS = [
  "round-robin",
  "v2-default",
  "weighted",
  "header-canary",
  "timeout",
  "retries",
  "fault-delay",
  "fault-abort",
  "circuit-breaker",
  "mirror",
] as const;

export type Lesson = (typeof LESSONS)[number];

/** The quick start's two steps, run by `npm run demo` with no argument. */
export const SEED_STEPS: Record<string, string> = { "round-robin": "seed step 5", "v2-default": "seed step 6" };

export const DEFAULT_LESSONS: Lesson[] = ["round-robin", "v2-default"];

/** A bad command line or an unknown lesson: reported with the usage, exit code 2. */
export class UsageError extends Error {}

/**
 * Runs a command's main and sets the exit code: usage errors print the message
 * and the usage (exit 2); any other error (a render, rule or checks error, a pod
 * that would not start) prints one line, never a stack (exit 1).
 */
export async function runCommand(name: string, usage: string, main: (argv: string[]) => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main(process.argv.slice(2));
  } catch (error) {
    const usageError = error instanceof UsageError;
    process.stderr.write(`${name}: ${(error as Error).message}\n${usageError ? `${usage}\n` : ""}`);
    process.exitCode = usageError ? 2 : 1;
  }
}

export function isLesson(name: string): name is Lesson {
  return (LESSONS as readonly string[]).includes(name);
}

/** Checks lesson names; an unknown one is an error listing the lessons. */
export function parseLessons(names: string[]): Lesson[] {
  const unknown = names.filter((n) => !isLesson(n));
  if (unknown.length > 0) throw new UsageError(`unknown lesson ${unknown.map((n) => `"${n}"`).join(", ")}; lessons: ${LESSONS.join(", ")}`);
  return names as Lesson[];
}

export function overlayDir(lesson: Lesson): string {
  return join(OVERLAYS_DIR, lesson);
}

export function checksFile(overlay: string): string {
  return join(overlay, "checks.yaml");
}

/** What demo and verify run: a lesson, or any directory holding a kustomization (a playground). */
export interface Target {
  /** The lesson's name, or the directory as given. */
  name: string;
  /** Absolute path of the kustomization directory. */
  dir: string;
  /** The directory as `kubectl apply -k` takes it from where the learner typed the command. */
  display: string;
  /** Its checks.yaml; required for a lesson, optional for a playground. */
  checks?: LessonChecks;
}

const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/**
 * Resolves a command-line argument: a lesson name wins; otherwise a directory
 * (relative to `base`, where the learner typed the command) with a kustomization.
 */
export async function resolveTarget(arg: string, base: string): Promise<Target> {
  if (isLesson(arg)) {
    const dir = overlayDir(arg);
    return { name: arg, dir, display: `k8s/overlays/${arg}`, checks: await loadChecks(checksFile(dir)) };
  }
  const dir = resolve(base, arg);
  const isDir = existsSync(dir) && statSync(dir).isDirectory();
  if (!isDir || !KUSTOMIZATION_FILES.some((f) => existsSync(join(dir, f)))) {
    throw new UsageError(`"${arg}" is neither a lesson nor a directory with a kustomization.yaml; lessons: ${LESSONS.join(", ")}`);
  }
  const target: Target = { name: arg, dir, display: arg };
  if (existsSync(checksFile(dir))) target.checks = await loadChecks(checksFile(dir));
  return target;
}
