// Test helper: a kustomize overlay in a temp dir over a real lesson, with
// patches of our own and the lesson's checks.yaml: a lesson "broken on purpose".
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { checksFile, overlayDir } from "#lessons/catalog/lessons.ts";
import type { Breakage } from "#lessons/catalog/lesson-file.ts";

const temps: string[] = [];

/** `patches` is the YAML list under `patches:` in kustomization.yaml. */
export function overlayOver(lesson: string, patches: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lesson-${lesson.replaceAll("/", "-")}-`));
  temps.push(dir);
  writeFileSync(
    join(dir, "kustomization.yaml"),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${relative(dir, overlayDir(lesson))}\npatches:\n${patches}`,
  );
  copyFileSync(checksFile(overlayDir(lesson)), checksFile(dir));
  return dir;
}

/** One entry of `patches:`: JSON-patch operations on one object (JSON is YAML too). */
export function jsonPatch(
  kind: string,
  name: string,
  ops: Array<{ op: string; path: string; value?: unknown }>,
): string {
  return `  - target: { kind: ${kind}, name: ${name} }\n    patch: '${JSON.stringify(ops).replaceAll("'", "''")}'\n`;
}

/** The `patches:` of a lesson's lesson.yaml `broken`, as overlayOver takes them. */
export function breakagePatches(broken: Breakage): string {
  return broken.patches.map((p) => jsonPatch(p.target.kind, p.target.name, p.ops)).join("");
}

export function removeOverlays(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}
