// A pod replaced while tally runs through the preview: readiness, not the
// exit, takes it out of the endpoints, and no request fails.
import { describe, expect, it } from "vitest";
import { renderKustomization } from "#lessons/core/kustomize.ts";
import { overlayDir } from "#lessons/catalog/lessons.ts";
import { Mesh } from "#lessons/mesh/mesh.ts";
import { runTally } from "#lessons/checks/preview.ts";

describe("zero downtime", () => {
  it("a pod gets SIGTERM while tally runs at concurrency 8 and a replacement starts: no request fails", async () => {
    // A SHUTDOWN_DELAY well above the readiness poll, so a loaded machine still sees readiness act first.
    const mesh = await Mesh.start(await renderKustomization(overlayDir("round-robin")), { shutdownDelay: "2s" });
    try {
      const old = mesh.pods.find((p) => p.deployment === "flaskapp-v1")!;
      const tally = runTally(["-d", "6s", "-c", "8", "--by", "status", "--json", `${mesh.url}/env/version`]);
      await expect.poll(() => old.requests.length, { timeout: 5000 }).toBeGreaterThan(20);
      old.process.kill("SIGTERM");
      // Readiness, not the exit, takes it out of the endpoints: it is still serving its SHUTDOWN_DELAY.
      await expect.poll(() => mesh.endpoints.readyIds(), { timeout: 1500, interval: 20 }).not.toContain(old.name);
      expect(old.process.exitCode).toBeNull();
      const replacement = await mesh.startReplacement("flaskapp-v1");
      expect(await old.exited).toBe(0);
      await expect.poll(() => replacement.requests.length, { timeout: 5000 }).toBeGreaterThan(0);

      const run = await tally;
      const result = JSON.parse(run.stdout) as {
        requests: number;
        errors: number;
        rows: Array<{ key: string; count: number }>;
      };
      expect(run.code).toBe(0);
      expect(result.rows.map((r) => r.key)).toEqual(["200"]);
      expect(result.errors).toBe(0);
      expect(result.requests).toBeGreaterThan(100);
      // The old pod answered until the proxy saw its readiness turn 503, then only the others did.
      const served = mesh.pods.map((p) => p.requests.length);
      expect(served.every((n) => n > 0)).toBe(true);
    } finally {
      await mesh.stop();
    }
  }, 60_000);
});
