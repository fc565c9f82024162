// What the preview tests share: the Istio releases every lesson is run under, and
// kustomize overlays over a real lesson for tests that break one thing of it.
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { checksFile, overlayDir } from "../../lessons/src/lessons.ts";
import { NEWEST_RELEASE, OLDEST_RELEASE } from "../../lessons/src/mesh/releases.ts";

/** The releases every lesson's checks are run under: the oldest and the newest the preview models. */
export const PREVIEW_RELEASES = [OLDEST_RELEASE, NEWEST_RELEASE] as const;

const temps: string[] = [];

/** A kustomize overlay in a temp dir over a real lesson, with `patches` and the lesson's checks.yaml. */
export function overlayOver(lesson: string, patches: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lesson-${lesson.replace("/", "-")}-`));
  temps.push(dir);
  writeFileSync(join(dir, "kustomization.yaml"), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${relative(dir, overlayDir(lesson))}\npatches:\n${patches}`);
  copyFileSync(checksFile(overlayDir(lesson)), checksFile(dir));
  return dir;
}

/** Removes the overlays made so far (call it in afterAll). */
export function removeOverlays(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Runs a script of the repository (`lessons/src/demo.ts ...`) on this Node; resolves with its exit code and output. */
export function runNode(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}
