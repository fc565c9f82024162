// Builds both images with the commands the cluster tooling runs and runs them for real on the host network
// (loopback only). Needs a Docker engine: .ci/run starts one when it runs as root.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageCommand } from "#flaskapp/launch.ts";
import {
  FLASKAPP_IMAGE,
  SLEEP_IMAGE,
  assertEngine,
  baseImage,
  buildImage,
  buildImageWithBuildKit,
  describeSize,
  docker,
  dockerOk,
  freeLoopbackPort,
  listFiles,
  stopContainer,
  waitForOk,
} from "./docker.ts";

const STOP_TIMEOUT_S = 10;
const suffix = `${process.pid}-${Date.now()}`;
const FLASKAPP = `istio-lessons-test-flaskapp-${suffix}`;
const SLEEP = `istio-lessons-test-sleep-${suffix}`;

let base = "";
let port = 0;
let url = "";

beforeAll(async () => {
  await assertEngine();
  base = await baseImage();
  await buildImage(FLASKAPP_IMAGE, base);
  await buildImage(SLEEP_IMAGE, base);
  console.log(`${await describeSize(FLASKAPP_IMAGE, base)}\n\n${await describeSize(SLEEP_IMAGE, base)}`);

  port = await freeLoopbackPort();
  url = `http://127.0.0.1:${port}`;
  // As in the cluster: read-only root, non-root, no capabilities, no privilege gain.
  await dockerOk([
    "run",
    "-d",
    "--name",
    FLASKAPP,
    "--network",
    "host",
    "--read-only",
    "--user",
    "1000",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "-e",
    "version=v2",
    "-e",
    `PORT=${port}`,
    "-e",
    "HOST=127.0.0.1",
    "-e",
    "SHUTDOWN_DELAY=1s",
    FLASKAPP_IMAGE,
  ]);
  await dockerOk(["run", "-d", "--name", SLEEP, "--network", "host", SLEEP_IMAGE]);
  await waitForOk(`${url}/readyz`);
});

afterAll(async () => {
  await docker(["rm", "-f", FLASKAPP, SLEEP]);
});

const exec = (args: readonly string[]) => docker(["exec", SLEEP, ...args], 60_000);

describe("flaskapp image", () => {
  it("answers /env/version with v2 and /readyz with 200", async () => {
    const version = await fetch(`${url}/env/version`);
    expect(version.status).toBe(200);
    expect(await version.text()).toBe("v2");
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it("starts from the V8 code cache the build made: no warning that it does not fit this Node", async () => {
    const logs = await docker(["logs", FLASKAPP]);
    expect(logs.code).toBe(0);
    expect(logs.stderr).not.toMatch(/flaskapp-app\.cjs\.cache/);
    expect(logs.stdout).toContain('"msg":"listening"');
  });

  it("runs as uid 1000, also by default", async () => {
    expect((await dockerOk(["exec", FLASKAPP, "sh", "-c", "awk '/^Uid:/ {print $2}' /proc/1/status"])).trim()).toBe(
      "1000",
    );
    expect((await dockerOk(["image", "inspect", "--format", "{{.Config.User}}", FLASKAPP_IMAGE])).trim()).toBe(
      "1000:1000",
    );
    expect((await dockerOk(["run", "--rm", "--entrypoint", "id", FLASKAPP_IMAGE, "-u"])).trim()).toBe("1000");
  });

  it("holds no npm, no node_modules and no .ts file, only the bundle as app code", async () => {
    const files = await listFiles(FLASKAPP_IMAGE);
    expect(files).toContain("app/flaskapp.js");
    expect(files.filter((f) => /(^|\/)node_modules(\/|$)/.test(f))).toEqual([]);
    expect(files.filter((f) => /(^|\/)(npm|npx|corepack|yarn)$/.test(f.replace(/\/$/, "")))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".ts"))).toEqual([]);
    expect(files.filter((f) => f.startsWith("app/"))).toEqual([
      "app/",
      "app/flaskapp-app.cjs",
      "app/flaskapp-app.cjs.cache",
      "app/flaskapp.js",
    ]);
  });

  it("has the OCI labels and runs node directly with NODE_ENV=production", async () => {
    const config = JSON.parse(await dockerOk(["image", "inspect", "--format", "{{json .Config}}", FLASKAPP_IMAGE])) as {
      Labels: Record<string, string>;
      Env: string[];
      Entrypoint: string[] | null;
      Cmd: string[];
      ExposedPorts: Record<string, unknown>;
    };
    expect(config.Labels["org.opencontainers.image.title"]).toBe("flaskapp");
    expect(config.Labels["org.opencontainers.image.version"]).toBe("0.1.0");
    expect(config.Labels).toHaveProperty(["org.opencontainers.image.source"]);
    expect(config.Env).toContain("NODE_ENV=production");
    expect(config.Entrypoint ?? []).toEqual([]);
    expect(config.Cmd).toEqual(imageCommand());
    expect(Object.keys(config.ExposedPorts).sort()).toEqual(["8080/tcp", "8081/tcp"]);
    // A pod listens on every interface; flaskapp alone, only on 127.0.0.1.
    expect(config.Env).toContain("HOST=::");
  });
});

describe("sleep image", () => {
  it("httpie, as the book types it, prints v2", async () => {
    // -t as `kubectl exec -it`: without a terminal on stdin httpie would read stdin as a body.
    const result = await docker(["exec", "-t", SLEEP, "http", "--body", `${url}/env/version`], 60_000);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe("v2");
  });

  it("tally -n 50 --expect v2=100 passes", async () => {
    const result = await exec(["tally", "-n", "50", "--expect", "v2=100", `${url}/env/version`]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("v2");
  });

  it("tally --expect v1=100 fails with exit code 1", async () => {
    expect((await exec(["tally", "-n", "5", "--expect", "v1=100", "--quiet", `${url}/env/version`])).code).toBe(1);
  });

  it.each([
    ["curl", ["curl", "-fsS", "URL/env/version"], "v2"],
    ["wrk", ["wrk", "-t1", "-c1", "-d1s", "URL/env/version"], "Requests/sec"],
    ["dig", ["dig", "+short", "@127.0.0.1", "-p", "1", "+tries=1", "+time=1", "flaskapp.istio-lessons"], ""],
    ["jq", ["sh", "-c", 'echo \'{"version":"v2"}\' | jq -r .version'], "v2"],
    ["nc", ["sh", "-c", "printf 'GET /env/version HTTP/1.0\\r\\n\\r\\n' | nc -q 2 127.0.0.1 PORT"], "v2"],
    ["bash", ["bash", "-c", "echo $BASH_VERSION"], "5."],
  ])("%s runs", async (_tool, args, expected) => {
    const result = await exec(args.map((a) => a.replace("URL", url).replace("PORT", String(port))));
    if (args[0] === "dig") {
      // No DNS server listens there (loopback only): dig runs, asks, and says so (exit 9).
      expect(result.code).toBe(9);
      expect(result.stdout + result.stderr).toContain("no servers could be reached");
    } else {
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(expected);
    }
  });

  it("runs as the numeric non-root user 1000 with a home, without npm", async () => {
    expect(
      (await exec(["sh", "-c", "id -u; id -g; echo $HOME; test -w $HOME && echo writable"])).stdout.split("\n"),
    ).toEqual(["1000", "1000", "/home/sleep", "writable", ""]);
    expect((await exec(["sh", "-c", "command -v tally; command -v npm || echo no-npm"])).stdout).toBe(
      "/usr/local/bin/tally\nno-npm\n",
    );
  });

  it("reaps orphaned children (tini is PID 1)", async () => {
    // The subshell exits at once, orphaning its background child to PID 1; once that child
    // has ended, a PID 1 that does not reap would leave it as a zombie.
    const result = await exec([
      "bash",
      "-c",
      "(sleep 0.2 &); sleep 1; cat /proc/1/comm; grep -l '^[0-9]* ([^)]*) Z' /proc/[0-9]*/stat | wc -l",
    ]);
    expect(result.stdout).toBe("tini\n0\n");
  });
});

describe("stopping", () => {
  it("flaskapp exits 0 on docker stop, well inside the grace period", async () => {
    const { exitCode, elapsedMs } = await stopContainer(FLASKAPP, STOP_TIMEOUT_S);
    console.log(
      `flaskapp stopped in ${Math.round(elapsedMs)} ms (SHUTDOWN_DELAY=1s, docker stop -t ${STOP_TIMEOUT_S})`,
    );
    expect(exitCode).toBe(0);
    expect(elapsedMs).toBeLessThan(STOP_TIMEOUT_S * 1000);
  });

  it("sleep exits 0 on docker stop at once", async () => {
    const { exitCode, elapsedMs } = await stopContainer(SLEEP, STOP_TIMEOUT_S);
    console.log(`sleep stopped in ${Math.round(elapsedMs)} ms (docker stop -t ${STOP_TIMEOUT_S})`);
    expect(exitCode).toBe(0);
    expect(elapsedMs).toBeLessThan(STOP_TIMEOUT_S * 1000);
  });
});

describe("BuildKit", () => {
  it.each([FLASKAPP_IMAGE, SLEEP_IMAGE])("%s builds with BuildKit too, to the same configuration", async (image) => {
    const tag = `${image.split(":")[0]}:buildkit-check-${suffix}`;
    const config = (ref: string) =>
      dockerOk([
        "image",
        "inspect",
        "--format",
        "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Config.User}} {{json .Config.Labels}}",
        ref,
      ]);
    try {
      await buildImageWithBuildKit(image, base, tag);
      expect(await config(tag)).toBe(await config(image));
    } finally {
      await docker(["rmi", "-f", tag]);
    }
  });
});
