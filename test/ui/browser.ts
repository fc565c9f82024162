// The browser the view's tests drive: Debian's chromium (installed by .ci/run), headless,
// through playwright-core (which downloads no browser), with a fresh profile each time.
// Every request the page makes is recorded, so a test can check that none leaves the machine.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "#lessons/core/paths.ts";

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  /** Every URL a page of this browser asked for. */
  requests: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium, as .ci/run does) or set CHROMIUM to a Chromium executable`,
    );
  const profile = mkdtempSync(join(tmpdir(), "view-test-profile-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
  });
  const requests: string[] = [];
  context.on("request", (request) => void requests.push(request.url()));
  return {
    context,
    requests,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** `npm run demo -- --serve <lesson>` as a process: the view's URL and the client listeners it printed. */
export interface Served {
  child: ChildProcessWithoutNullStreams;
  view: string;
  /** The client's URL for a Service as the sleep pod names it (flaskapp → http://127.0.0.1:PORT). */
  service: Record<string, string>;
  /** Date.now() when the view's URL was printed: the server is up. */
  upAt: number;
  stop(): Promise<number | null>;
}

export async function serveLesson(lesson: string): Promise<Served> {
  const child = spawn(process.execPath, ["lessons/src/cli/demo.ts", "--serve", lesson], { cwd: ROOT });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const viewLine = /the live view \(graph, why, traffic, checks\): (http:\/\/127\.0\.0\.1:\d+\/)/;
  const view = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      stdout += c;
      const found = viewLine.exec(stdout);
      if (found) resolve(found[1]!);
    });
    void exited.then((code) => reject(new Error(`demo --serve ${lesson} exited with ${code}: ${stderr}`)));
  });
  const upAt = Date.now();
  const service = Object.fromEntries(
    [
      ...stdout.matchAll(/^http:\/\/(\S+) \(as the sleep pod calls it\) is served at (http:\/\/127\.0\.0\.1:\d+)$/gm),
    ].map((m) => [m[1]!, m[2]!]),
  );
  return {
    child,
    view,
    service,
    upAt,
    stop: async () => {
      child.kill("SIGINT");
      return exited;
    },
  };
}
