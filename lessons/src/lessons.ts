// The lessons: one kustomize overlay each under k8s/overlays/, with its
// expected outcome in checks.yaml beside the kustomization.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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
