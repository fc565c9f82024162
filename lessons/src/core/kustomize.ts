// Renders a kustomization with the real kustomize built into kubectl.
import { parseAllDocuments } from "yaml";
import { NOT_INSTALLED, runProgram } from "./run.ts";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  spec?: any;
  [key: string]: unknown;
}

const RENDER_TIMEOUT_MS = 60_000;
/** A render larger than this is refused (ours are a few KiB). */
export const RENDER_MAX_CHARS = 16 * 1024 * 1024;

export class RenderError extends Error {}

/** A label selector's matchLabels (or a Service's selector, a subset's labels) against an object's labels: every pair present. */
export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Runs `kubectl kustomize DIR` and returns the rendered objects. */
export async function renderKustomization(dir: string): Promise<K8sObject[]> {
  const run = await runProgram("kubectl", ["kustomize", dir], RENDER_TIMEOUT_MS);
  if (run.code === NOT_INSTALLED) {
    throw new RenderError("kubectl is not installed or not on PATH: it is needed to render the kustomize overlays (https://kubernetes.io/docs/tasks/tools/)");
  }
  if (run.code !== 0) throw new RenderError(`kubectl kustomize ${dir} failed: ${kustomizeError(run.stderr) || `exit code ${run.code}`}`);
  if (run.stdout.length > RENDER_MAX_CHARS) throw new RenderError(`kubectl kustomize ${dir}: the render is over ${RENDER_MAX_CHARS} characters`);
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
