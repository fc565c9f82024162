// The lessons: one kustomize overlay each under k8s/overlays/ (Istio's API)
// and, where the Gateway API can express it, its twin under k8s/gateway-api/,
// with the expected outcome in checks.yaml beside each kustomization.
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError, USAGE_EXIT } from "#common/usage-error.ts";
import { loadChecks, type LessonChecks } from "../checks/checks.ts";
import { KUSTOMIZATION_FILES } from "../core/overlay-files.ts";
import { K8S_DIR } from "../core/paths.ts";

export const OVERLAYS_DIR = join(K8S_DIR, "overlays");
export const GATEWAY_API_DIR = join(K8S_DIR, "gateway-api");
const GATEWAY_API_PREFIX = "gateway-api/";

/** The lessons in Istio's API, in the order a learner takes them: k8s/overlays/<name>. */
export const LESSONS = [
  "round-robin",
  "v2-default",
  "weighted",
  "header-canary",
  "source-labels",
  "fetch-chain",
  "header-manipulation",
  "rewrite-redirect",
  "ingress-gateway",
  "egress-service-entry",
  "timeout",
  "retries",
  "fault-delay",
  "fault-abort",
  "circuit-breaker",
  "outlier-ejection",
  "session-affinity",
  "mirror",
] as const;

/**
 * The lessons the Gateway API cannot express, and why. Each stays in Istio's API only, as
 * Istio's own docs keep a VirtualService or DestinationRule for these beside HTTPRoutes.
 */
export const GATEWAY_API_CANNOT: Readonly<Partial<Record<(typeof LESSONS)[number], string>>> = {
  "source-labels": "an HTTPRoute matches requests, not the workload that sends them: no match on source labels",
  "egress-service-entry": "the outside host and the REGISTRY_ONLY outbound policy need a ServiceEntry and a Sidecar, which have no Gateway API form",
  "fault-delay": "the Gateway API has no fault injection: no filter delays a request",
  "fault-abort": "the Gateway API has no fault injection: no filter answers in place of the app",
  "circuit-breaker": "connection-pool limits are no Gateway API field: only a DestinationRule sets them",
  "outlier-ejection": "outlier detection is no Gateway API field: only a DestinationRule sets it",
  "session-affinity": "hashing a header to a pod is no Gateway API field (the experimental sessionPersistence is cookie or header sessions, which Istio ignores): only a DestinationRule sets it",
};

/**
 * The lessons the Gateway API can express, in the same order: k8s/gateway-api/<name>, run as
 * gateway-api/<name>, each with its Istio-API twin's checks.
 */
export const GATEWAY_API_LESSONS: readonly (typeof LESSONS)[number][] = LESSONS.filter((lesson) => !(lesson in GATEWAY_API_CANNOT));

/** A lesson's name: one of LESSONS, or gateway-api/<one of GATEWAY_API_LESSONS>. */
export type Lesson = string;

/** Every lesson, Istio's API first, then the Gateway API twins. */
export function allLessons(): string[] {
  return [...LESSONS, ...GATEWAY_API_LESSONS.map((name) => `${GATEWAY_API_PREFIX}${name}`)];
}

/** The quick start's two steps, run by `npm run demo` with no argument. */
export const SEED_STEPS: Record<string, string> = { "round-robin": "seed step 5", "v2-default": "seed step 6" };

export const DEFAULT_LESSONS: Lesson[] = ["round-robin", "v2-default"];

export function isLesson(name: string): name is Lesson {
  return allLessons().includes(name);
}

/** Checks lesson names; an unknown one is an error listing the lessons. */
/** For gateway-api/<lesson> of a lesson the Gateway API cannot express: why, and which lesson to run instead. */
export function noGatewayApiForm(name: string): string | undefined {
  if (!name.startsWith(GATEWAY_API_PREFIX)) return undefined;
  const lesson = name.slice(GATEWAY_API_PREFIX.length);
  const why = GATEWAY_API_CANNOT[lesson as (typeof LESSONS)[number]];
  return why && `${name} is no lesson: ${why}; run ${lesson} (Istio's API)`;
}

export function parseLessons(names: string[]): Lesson[] {
  const refused = names.map(noGatewayApiForm).find((why) => why !== undefined);
  if (refused) throw new UsageError(refused);
  const unknown = names.filter((n) => !isLesson(n));
  if (unknown.length > 0) throw new UsageError(`unknown lesson ${unknown.map((n) => `"${n}"`).join(", ")}; lessons: ${allLessons().join(", ")}`);
  return names as Lesson[];
}

/** The lesson's kustomization as `kubectl apply -k` takes it from the repository root. */
export function lessonPath(lesson: Lesson): string {
  return lesson.startsWith(GATEWAY_API_PREFIX) ? `k8s/gateway-api/${lesson.slice(GATEWAY_API_PREFIX.length)}` : `k8s/overlays/${lesson}`;
}

export function overlayDir(lesson: Lesson): string {
  return lesson.startsWith(GATEWAY_API_PREFIX) ? join(GATEWAY_API_DIR, lesson.slice(GATEWAY_API_PREFIX.length)) : join(OVERLAYS_DIR, lesson);
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
  if (isLesson(arg)) {
    const dir = overlayDir(arg);
    return { name: arg, dir, display: lessonPath(arg), checks: await loadChecks(checksFile(dir)) };
  }
  const dir = resolve(base, arg);
  const isDir = existsSync(dir) && statSync(dir).isDirectory();
  if (!isDir || !KUSTOMIZATION_FILES.some((f) => existsSync(join(dir, f)))) {
    const refused = noGatewayApiForm(arg);
    if (refused) throw new UsageError(refused);
    throw new UsageError(`"${arg}" is neither a lesson nor a directory with a kustomization.yaml; lessons: ${allLessons().join(", ")}`);
  }
  const target: LessonTarget = { name: arg, dir, display: arg };
  if (existsSync(checksFile(dir))) target.checks = await loadChecks(checksFile(dir));
  return target;
}
