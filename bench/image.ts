// How the image runs flaskapp, read from Dockerfile.flaskapp: node's flags
// (the CMD between "node" and the script) and the environment its final stage
// sets (ENV). The bench runs dist/flaskapp.js with both, so what it measures is
// flaskapp as shipped, and a change to the image's command is measured at once.
import { readFileSync } from "node:fs";

export interface Shipped {
  /** node's arguments before the script, e.g. ["--max-old-space-size-percentage=50"] */
  nodeFlags: string[];
  env: Record<string, string>;
}

/** Reads the final stage's ENV lines and its exec-form CMD ["node", flags..., script]. */
export function parseShipped(dockerfile: string): Shipped {
  const lines = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim());
  const finalStage = lines.slice(lines.findLastIndex((line) => /^FROM\s/i.test(line)));
  const env: Record<string, string> = {};
  for (const line of finalStage) {
    const match = /^ENV\s+(.*)$/i.exec(line);
    if (!match) continue;
    for (const pair of match[1]!.trim().split(/\s+/)) {
      const at = pair.indexOf("=");
      if (at < 1) throw new Error(`ENV ${match[1]}: only the KEY=value form is read here`);
      env[pair.slice(0, at)] = pair.slice(at + 1);
    }
  }
  const cmd = finalStage.findLast((line) => /^CMD\s/i.test(line));
  if (cmd === undefined) throw new Error("no CMD in the final stage");
  const args: unknown = JSON.parse(cmd.replace(/^CMD\s+/i, ""));
  if (!Array.isArray(args) || args.length < 2 || args[0] !== "node" || !args.every((a) => typeof a === "string")) {
    throw new Error(`CMD ${cmd}: expected the exec form ["node", flags..., script]`);
  }
  return { nodeFlags: args.slice(1, -1) as string[], env };
}

export function readShipped(path: string): Shipped {
  return parseShipped(readFileSync(path, "utf8"));
}
