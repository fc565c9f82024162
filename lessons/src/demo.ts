// `npm run demo [lesson ...]`: each lesson brought up in the mesh preview (a
// local model of Istio's routing, no cluster needed) and checked with tally.
// `npm run demo -- --serve <lesson>` keeps the mesh up for your own requests.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadChecks, tallyArgs } from "./checks.ts";
import { renderKustomization } from "./kustomize.ts";
import { checksFile, DEFAULT_LESSONS, LESSONS, overlayDir, parseLessons, SEED_STEPS, runCommand, UsageError, type Lesson } from "./lessons.ts";
import { FLASKAPP_BUNDLE, Mesh } from "./mesh/mesh.ts";
import { killAllPods } from "./mesh/pods.ts";
import { previewOverlay, TALLY_BUNDLE } from "./preview.ts";
import { shellQuote } from "./run-check.ts";

const USAGE = `usage: npm run demo [-- lesson ...]     run lessons' checks in the local mesh preview
       npm run demo -- --serve <lesson>   keep a lesson's mesh up for curl, http or tally
lessons: ${LESSONS.join(", ")}
(no lesson: round-robin then v2-default, the quick start's steps 5 and 6)`;


function out(text: string): void {
  process.stdout.write(text);
}

async function demo(lessons: Lesson[]): Promise<boolean> {
  let allPassed = true;
  for (const lesson of lessons) {
    const { summary } = await loadChecks(checksFile(overlayDir(lesson)));
    const step = SEED_STEPS[lesson] ? ` (${SEED_STEPS[lesson]})` : "";
    out(`\n== ${lesson}${step}: ${summary}\n   kubectl apply -k k8s/overlays/${lesson}   # on a cluster; here: the local mesh preview\n`);
    const results = await previewOverlay(overlayDir(lesson), { write: out });
    allPassed &&= results.every((r) => r.passed);
  }
  return allPassed;
}

async function serve(lesson: Lesson): Promise<void> {
  const { summary, checks } = await loadChecks(checksFile(overlayDir(lesson)));
  const mesh = await Mesh.start(await renderKustomization(overlayDir(lesson)));
  const first = checks[0]!;
  const headers = Object.entries(first.headers);
  const url = `${mesh.url}${first.path}`;
  out(`mesh preview of ${lesson}: ${summary}
pods: ${mesh.pods.map((p) => `${p.name} (${p.url})`).join(", ")}
Service ${mesh.service} is served at ${mesh.url}   (the sleep pod's http://${mesh.service})

  curl -s ${headers.map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)} `).join("")}${shellQuote(url)}
  http --body ${shellQuote(url)}${headers.map(([k, v]) => ` ${shellQuote(`${k}:${v}`)}`).join("")}
  npx tally -n 100 ${shellQuote(url)}${headers.map(([k, v]) => ` ${shellQuote(`${k}:${v}`)}`).join("")}

the lesson's checks:
${checks.map((c) => { const args = tallyArgs(c); return `  npx tally ${[...args.slice(0, -1), mesh.localUrl(args.at(-1)!)].map(shellQuote).join(" ")}`; }).join("\n")}

Ctrl-C stops the mesh.
`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  out("\nstopping the mesh preview\n");
  await mesh.stop();
}

async function main(argv: string[]): Promise<number> {
  let values: { serve?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { serve: { type: "string" }, help: { type: "boolean", short: "h" } } }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  for (const bundle of [FLASKAPP_BUNDLE, TALLY_BUNDLE]) {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  }
  if (values.serve !== undefined) {
    if (positionals.length > 0) throw new UsageError("--serve takes one lesson");
    await serve(parseLessons([values.serve])[0]!);
    return 0;
  }
  const lessons = positionals.length > 0 ? parseLessons(positionals) : DEFAULT_LESSONS;
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    process.once(signal, () => {
      killAllPods();
      process.exit(code);
    });
  }
  const passed = await demo(lessons);
  out(passed ? "\nall checks passed\n" : "\nsome checks FAILED\n");
  return passed ? 0 : 1;
}

await runCommand("demo", USAGE, main);
