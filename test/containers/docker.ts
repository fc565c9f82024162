// Helpers for the container tests: the docker CLI through node:child_process, every call
// bounded in time, and the image builds exactly as the cluster tooling runs them (lessons/src/core/images.ts).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { dockerBuildCommand, FLASKAPP_IMAGE as FLASKAPP, IMAGES, SLEEP_IMAGE as SLEEP } from "#lessons/core/images.ts";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const OFFICIAL_BASE = "node:24.21.0-bookworm-slim";
export const FLASKAPP_IMAGE = FLASKAPP.name;
export const SLEEP_IMAGE = SLEEP.name;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

// Runs a command to completion (or until timeoutMs, then SIGKILL) and never throws: callers
// assert on the exit code.
export function run(
  file: string,
  args: readonly string[],
  timeoutMs: number,
  env: Record<string, string> = {},
): Promise<Result> {
  const options = {
    cwd: ROOT,
    timeout: timeoutMs,
    killSignal: "SIGKILL" as const,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, ...env },
  };
  return new Promise((resolve) => {
    execFile(file, args, options, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
      const note = error?.killed ? `\n(killed after ${timeoutMs} ms)` : "";
      resolve({ code, stdout, stderr: stderr + note });
    });
  });
}

export function docker(args: readonly string[], timeoutMs = 60_000): Promise<Result> {
  return run("docker", args, timeoutMs);
}

// Like docker(), but a non-zero exit is an error that carries the command's output.
export async function dockerOk(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const result = await docker(args, timeoutMs);
  if (result.code !== 0) {
    const tail = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-30).join("\n");
    throw new Error(`docker ${args.join(" ")} exited ${result.code}:\n${tail}`);
  }
  return result.stdout;
}

export async function assertEngine(): Promise<void> {
  const info = await docker(["info", "--format", "{{.ServerVersion}}"], 30_000);
  if (info.code !== 0 || info.stdout.trim() === "") {
    throw new Error(
      `no Docker engine is reachable (${info.stderr.trim().split("\n")[0] ?? ""}): start dockerd or run .ci/run as root`,
    );
  }
}

async function hasImage(ref: string): Promise<boolean> {
  return (await docker(["image", "inspect", ref], 30_000)).code === 0;
}

// The official base if it is here or can be pulled; otherwise the equivalent built offline
// (test/containers/offline-base.sh, cached by recipe), whose tag is returned.
export async function baseImage(): Promise<string> {
  if (await hasImage(OFFICIAL_BASE)) return OFFICIAL_BASE;
  if ((await docker(["pull", OFFICIAL_BASE], 120_000)).code === 0) return OFFICIAL_BASE;
  const built = await run("bash", [join(ROOT, "test/containers/offline-base.sh")], 900_000);
  if (built.code !== 0) throw new Error(`building the offline base image failed:\n${built.stderr}`);
  return built.stdout.trim();
}

// The `docker build` arguments for an image as the cluster tooling and DEVELOPMENT.md give them
// (lessons/src/core/images.ts), on the host network, from the given base.
export function buildArgs(image: string, base: string): string[] {
  const found = IMAGES.find((i) => i.name === image);
  if (found === undefined) throw new Error(`${image} is not one of the images in lessons/src/core/images.ts`);
  const baseArgs =
    base === OFFICIAL_BASE ? [] : ["--build-arg", `BUILD_IMAGE=${base}`, "--build-arg", `RUNTIME_IMAGE=${base}`];
  return [...dockerBuildCommand(found).slice(1), "--network", "host", ...baseArgs];
}

export async function buildImage(image: string, base: string): Promise<void> {
  await dockerOk(buildArgs(image, base), 900_000);
}

// Builds with BuildKit instead of the classic builder, as `tag`: through buildx when it is
// installed, else through Debian's docker 20.10 client (/usr/bin/docker, from .ci/run's
// docker.io), whose DOCKER_BUILDKIT=1 uses the engine's built-in BuildKit.
export async function buildImageWithBuildKit(image: string, base: string, tag: string): Promise<void> {
  const args = buildArgs(image, base).map((arg) => (arg === image ? tag : arg));
  const result =
    (await docker(["buildx", "version"], 30_000)).code === 0
      ? await docker(["buildx", "build", "--load", ...args.slice(1)], 900_000)
      : existsSync("/usr/bin/docker")
        ? await run("/usr/bin/docker", args, 900_000, { DOCKER_BUILDKIT: "1" })
        : {
            code: -1,
            stdout: "",
            stderr: "no BuildKit client: install docker buildx (or Debian's docker.io for /usr/bin/docker)",
          };
  if (result.code !== 0)
    throw new Error(
      `BuildKit build of ${image} exited ${result.code}:\n${result.stderr.split("\n").slice(-30).join("\n")}`,
    );
}

export async function imageSize(ref: string): Promise<number> {
  return Number((await dockerOk(["image", "inspect", "--format", "{{.Size}}", ref])).trim());
}

// The layers an image adds on top of its base, newest first: "size  instruction".
export async function addedLayers(image: string, base: string): Promise<string[]> {
  const rows = async (ref: string) =>
    (await dockerOk(["history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", ref])).trim().split("\n");
  const [own, inherited] = await Promise.all([rows(image), rows(base)]);
  return own.slice(0, own.length - inherited.length).map((row) => {
    const [size = "", createdBy = ""] = row.split("\t");
    const instruction = createdBy
      .replace(/^\/bin\/sh -c (#\(nop\) )?/, "")
      .replace(/\s+/g, " ")
      .trim();
    return `${size.padStart(8)}  ${instruction.length > 110 ? `${instruction.slice(0, 107)}...` : instruction}`;
  });
}

export async function describeSize(image: string, base: string): Promise<string> {
  const [size, baseSize, layers] = await Promise.all([imageSize(image), imageSize(base), addedLayers(image, base)]);
  const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
  return [
    `${image}: ${mb(size)}, ${mb(size - baseSize)} on top of ${base} (${mb(baseSize)})`,
    ...layers.map((l) => `  ${l}`),
  ].join("\n");
}

// Every path in an image's filesystem (docker create + docker export, never started).
export async function listFiles(image: string): Promise<string[]> {
  const id = (await dockerOk(["create", image])).trim();
  try {
    const listing = await run("bash", ["-o", "pipefail", "-c", `docker export ${id} | tar -t`], 300_000);
    if (listing.code !== 0) throw new Error(`listing ${image} failed: ${listing.stderr}`);
    return listing.stdout.split("\n").filter((line) => line !== "");
  } finally {
    await docker(["rm", "-f", id]);
  }
}

export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

// Polls url until it answers 200; bounded by attempts.
export async function waitForOk(url: string, attempts = 100, intervalMs = 100): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`${url} did not answer 200 after ${attempts} attempts`);
}

// `docker stop -t timeoutS`, then the container's exit code and how long the stop took.
export async function stopContainer(name: string, timeoutS: number): Promise<{ exitCode: number; elapsedMs: number }> {
  const started = performance.now();
  await dockerOk(["stop", "-t", String(timeoutS), name], (timeoutS + 30) * 1000);
  const elapsedMs = performance.now() - started;
  const exitCode = Number((await dockerOk(["inspect", "--format", "{{.State.ExitCode}}", name])).trim());
  return { exitCode, elapsedMs };
}
