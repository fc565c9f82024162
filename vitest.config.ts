import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/containers/**", "test/e2e/**", "test/ui/**", "test/conformance/**"],
          globalSetup: ["test/global-setup.ts"],
          // Two files at a time on our 2-core machines (vitest's default leaves one core to
          // itself): most tests wait on real servers and processes, not on the CPU.
          maxWorkers: 2,
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "lessons",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          // The live view in headless chromium (Debian's, driven by playwright-core): npm run test:ui.
          name: "ui",
          include: ["test/ui/**/*.test.ts"],
          globalSetup: ["test/ui/setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Istio's routing cases and the Gateway API conformance tests, ported (docs/mesh-preview.md lists them).
          name: "conformance",
          include: ["test/conformance/**/*.test.ts"],
          // The playground file starts the real flaskapp and tally bundles.
          globalSetup: ["test/global-setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "containers",
          include: ["test/containers/**/*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
