// Renders a kustomization with the real kustomize built into kubectl.
import { execFile } from "node:child_process";
import { parseAllDocuments } from "yaml";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  spec?: any;
  [key: string]: unknown;
}

const RENDER_TIMEOUT_MS = 60_000;
const RENDER_MAX_BYTES = 16 * 1024 * 1024;

export class RenderError extends Error {}

/** Runs `kubectl kustomize DIR` and returns the rendered objects. */
export function renderKustomization(dir: string): Promise<K8sObject[]> {
  return new Promise((resolve, reject) => {
    execFile(
      "kubectl",
      ["kustomize", dir],
      { timeout: RENDER_TIMEOUT_MS, maxBuffer: RENDER_MAX_BYTES },
      (error, stdout, stderr) => {
        if (error) {
          const missing = (error as NodeJS.ErrnoException).code === "ENOENT";
          reject(
            new RenderError(
              missing
                ? "kubectl is not installed or not on PATH: it is needed to render the kustomize overlays (https://kubernetes.io/docs/tasks/tools/)"
                : `kubectl kustomize ${dir} failed: ${kustomizeError(stderr) || error.message}`,
            ),
          );
          return;
        }
        resolve(parseManifests(stdout));
      },
    );
  });
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
