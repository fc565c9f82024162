// The one launch spec (services/flaskapp/src/launch.ts) against the two places
// that cannot import it: the image's CMD and `npm start`. The build and the
// mesh preview's pods read LAUNCH itself (the build's code cache is taken under
// it: code-cache.test.ts; the pods: test/lessons/preview.test.ts).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseShipped } from "../../bench/image.ts";
import { V8_FLAGS } from "#flaskapp/code-cache.ts";
import { IMAGE_ENTRY, imageCommand, LAUNCH, startCommand } from "#flaskapp/launch.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The final stage's exec-form CMD, as Docker would store it. */
function dockerCmd(dockerfile: string): unknown {
  const finalStage = dockerfile.slice(dockerfile.search(/^FROM\s[^\n]*$(?![\s\S]*^FROM\s)/m));
  const cmd = finalStage.split("\n").findLast((line) => /^CMD\s/i.test(line));
  return cmd === undefined ? undefined : JSON.parse(cmd.replace(/^CMD\s+/i, ""));
}

describe("one launch spec", () => {
  it("LAUNCH.nodeFlags are the flags the code cache is made under", () => {
    expect(LAUNCH.nodeFlags).toEqual(V8_FLAGS);
  });

  it("Dockerfile.flaskapp's CMD is the image's flags, then every start's, then the entry point", () => {
    const dockerfile = readFileSync(`${ROOT}Dockerfile.flaskapp`, "utf8");
    expect(dockerCmd(dockerfile), `Dockerfile.flaskapp should end in CMD ${JSON.stringify(imageCommand())}`).toEqual(
      imageCommand(),
    );
    expect(parseShipped(dockerfile).nodeFlags).toEqual([...LAUNCH.imageOnlyFlags, ...LAUNCH.nodeFlags]);
    expect(imageCommand().at(-1)).toBe(IMAGE_ENTRY);
  });

  it("npm start runs the entry point with every start's flags, built first if stale", () => {
    const scripts = (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { scripts: Record<string, string> })
      .scripts;
    expect(scripts.start).toBe(`node scripts/build.ts --if-stale && exec ${startCommand()}`);
  });

  it("reads only the final stage's CMD", () => {
    const text = [
      "FROM node:24 AS build",
      'CMD ["node", "build.js"]',
      "FROM node:24",
      'CMD ["node", "--a", "/app/flaskapp.js"]',
    ].join("\n");
    expect(dockerCmd(text)).toEqual(["node", "--a", "/app/flaskapp.js"]);
    expect(dockerCmd("FROM node:24\n")).toBeUndefined();
  });
});
