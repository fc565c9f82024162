// `npm run demo [lesson|dir ...]`: each lesson (or any directory holding a
// kustomization.yaml: a playground) brought up in the mesh preview, a local
// model of Istio, and checked with tally. `--serve` keeps one up for your own
// requests and serves its live view (lessons/src/view); `--istio 1.NN` models
// another supported Istio release.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseArgsUsageError, UsageError } from "#common/usage-error.ts";
import { visibleText } from "#common/visible-text.ts";
import {
  allLessons,
  DEFAULT_LESSONS,
  isLesson,
  lessonInfo,
  resolveTarget,
  SEED_STEPS,
  type LessonTarget,
} from "../catalog/lessons.ts";
import { envNamesRead, tallyArgs, withLessonVars, type Check } from "../checks/checks.ts";
import { meshWarnings, previewTarget } from "../checks/preview.ts";
import { EXIT, missingTools, type CommandIo } from "../cluster/plan.ts";
import {
  labelsMatch,
  renderKustomization,
  renderLimits,
  RENDER_LIMIT_SETTINGS,
  type K8sObject,
  type RenderOptions,
} from "../core/kustomize.ts";
import { FLASKAPP_BUNDLE, TALLY_BUNDLE, VIEW_ASSETS } from "../core/paths.ts";
import { shellQuote } from "../core/shell.ts";
import { Mesh } from "../mesh/mesh.ts";
import { killAllPods } from "../mesh/pods.ts";
import { findRelease, NEWEST_RELEASE, RELEASES, type IstioRelease } from "../mesh/releases.ts";
import { startView, type View } from "../view/server.ts";
import { processIo, runCommand } from "./command.ts";

const USAGE = `usage: npm run demo [-- [--istio 1.NN] [--allow-remote] <lesson|dir> ...]   run lessons' checks in the local mesh preview
       npm run demo -- --all [--istio 1.NN]                                     every lesson of every track, then one summary table
       npm run demo -- --serve [--istio 1.NN] [--allow-remote] <lesson|dir>     keep one up for curl, http or tally, with its live view in the browser; Ctrl-C stops it
  <dir>           any directory with a kustomization.yaml (a copy of a lesson to play with); checks.yaml is optional
  --istio 1.NN    the Istio release whose defaults the preview models: ${RELEASES.map((r) => r.version).join(", ")} (default ${NEWEST_RELEASE.version})
  --allow-remote  let kustomize fetch the remote resources, components and bases a <dir> names (refused by default)
  ${RENDER_LIMIT_SETTINGS.memory.name} (default ${RENDER_LIMIT_SETTINGS.memory.fallback}) and ${RENDER_LIMIT_SETTINGS.timeout.name} (default ${RENDER_LIMIT_SETTINGS.timeout.fallback / 1000}s) bound each render
lessons: ${allLessons().join(", ")}
(no lesson: round-robin then v2-default, the quick start's steps 5 and 6)`;

/** A target's heading: its name, and the quick start's step for the seed's two lessons. */
export function heading(target: LessonTarget): string {
  const step = SEED_STEPS[target.name] ? ` (${SEED_STEPS[target.name]})` : "";
  return `${target.name}${step}`;
}

/** What to run: the lessons or directories named (relative to `base`), every lesson (`all`), or the quick start's two steps when none is. */
export function demoTargets(positionals: readonly string[], base: string, all = false): Promise<LessonTarget[]> {
  const names = all ? allLessons() : positionals.length > 0 ? positionals : DEFAULT_LESSONS;
  return Promise.all(names.map((p) => resolveTarget(p, base)));
}

/** One target's outcome, a row of the summary table. */
export interface DemoRow {
  lesson: string;
  /** The lesson's track ("Istio's API", "Gateway API"), or "playground" for a directory. */
  track: string;
  passed: boolean;
  checksPassed: number;
  checks: number;
  ms: number;
}

/** The summary of a run of several targets: lesson, track, result, checks, time. */
export function summaryTable(rows: readonly DemoRow[]): string {
  const cells = [
    ["lesson", "track", "result", "checks", "time"],
    ...rows.map((r) => [
      r.lesson,
      r.track,
      r.passed ? "PASS" : "FAIL",
      `${r.checksPassed}/${r.checks}`,
      `${(r.ms / 1000).toFixed(1)}s`,
    ]),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return `${cells
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

function targetHeader(target: LessonTarget, release: IstioRelease): string {
  const onCluster = isLesson(target.name) ? `npm run lesson -- ${target.name}` : `kubectl apply -k ${target.display}`;
  return `\n== ${heading(target)}${target.checks ? `: ${target.checks.summary}` : ""}\n   ${onCluster}   # on a cluster; here: the local mesh preview, Istio ${release.version} defaults\n`;
}

/** For a playground whose checks failed: the expectations were the lesson's, and may need the same edit as the rules. */
function playgroundHint(target: LessonTarget): string {
  return `\n   ${target.display}/checks.yaml: the expectations are the ones the rules had when you copied them; the lines above say which rule produced what was observed. If the rules now do what you meant, edit the expectations alongside them.\n`;
}

async function demo(
  targets: LessonTarget[],
  release: IstioRelease,
  render: RenderOptions,
  out: (text: string) => void,
): Promise<DemoRow[]> {
  const rows: DemoRow[] = [];
  for (const target of targets) {
    out(targetHeader(target, release));
    if (!target.checks)
      out(
        "   no checks.yaml beside the kustomization: a sample instead, 100 requests to /env/version with nothing expected; copy a lesson's checks.yaml to check an outcome\n",
      );
    const started = Date.now();
    const results = await previewTarget(target, { write: out, release, render });
    const passed = results.every((r) => r.passed);
    if (!passed && target.checks && !isLesson(target.name)) out(playgroundHint(target));
    rows.push({
      lesson: target.name,
      track: lessonInfo(target.name)?.track.title ?? "playground",
      passed,
      checksPassed: results.filter((r) => r.passed).length,
      checks: target.checks ? results.length : 0,
      ms: Date.now() - started,
    });
  }
  return rows;
}

function exampleCommands(mesh: Mesh, check: Check | undefined): string {
  const url = mesh.localUrl(check ? `http://${check.service}${check.path}` : "http://flaskapp/env/version");
  const headers = Object.entries(check?.headers ?? {});
  return [
    `  curl -s ${headers.map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)} `).join("")}${shellQuote(url)}`,
    // --ignore-stdin: without a terminal (a script, an editor's run button) httpie reads stdin as a body and sends a POST.
    `  http --ignore-stdin --body ${shellQuote(url)}${headers.map(([k, v]) => ` ${shellQuote(`${k}:${v}`)}`).join("")}`,
    `  npx tally -n 100 ${shellQuote(url)}${headers.map(([k, v]) => ` ${shellQuote(`${k}:${v}`)}`).join("")}`,
  ].join("\n");
}

/** The live view of a served mesh, on 127.0.0.1 (lessons/src/view). */
function serveView(mesh: Mesh, objects: K8sObject[], target: LessonTarget): Promise<View> {
  return startView({
    mesh,
    objects,
    lesson: target.name,
    summary: target.checks?.summary,
    checks: target.checks?.checks ?? [],
    assets: VIEW_ASSETS,
  });
}

/** The cluster's Services that some pod of the preview answers for (sleep's own Service has none: the preview runs no sleep pod). */
export function servedServices(mesh: Mesh): Array<NonNullable<ReturnType<Mesh["config"]["services"]["get"]>>> {
  const endpoints = mesh.endpoints.all();
  return [...mesh.config.services.values()].filter(
    (s) =>
      s.kind === "kubernetes" &&
      s.selector !== undefined &&
      endpoints.some((e) => e.namespace === s.namespace && labelsMatch(s.selector!, e.labels)),
  );
}

async function serve(
  target: LessonTarget,
  release: IstioRelease,
  render: RenderOptions,
  out: (text: string) => void,
  stop: Promise<unknown>,
): Promise<void> {
  const objects = await renderKustomization(target.dir, render);
  const checks = withLessonVars(target.checks?.checks ?? [], objects);
  const mesh = await Mesh.start(objects, { release, checkEnvNames: envNamesRead(checks) });
  const view = await serveView(mesh, objects, target).catch(async (error: unknown) => {
    await mesh.stop();
    throw error;
  });
  const services = servedServices(mesh);
  out(`mesh preview of ${target.name} (Istio ${release.version} defaults)${target.checks ? `: ${target.checks.summary}` : ""}
${mesh.ambient ? "ambient mode: no sidecars; ztunnel carries each connection, waypoints apply the L7 rules of the Services enrolled with them\n" : ""}${meshWarnings(mesh)}pods: ${mesh.pods.map((p) => `${p.name} (${p.url})`).join(", ")}
${mesh.notes.map((note) => `note: ${note}\n`).join("")}${services.map((s) => `http://${s.name}${s.namespace === mesh.config.services.get(mesh.service)!.namespace ? "" : `.${s.namespace}`} (as the sleep pod calls it) is served at ${mesh.localUrl(`http://${s.host}/`).replace(/\/$/, "")}`).join("\n")}

${exampleCommands(mesh, checks[0])}
${
  checks.length
    ? `\nthe lesson's checks:\n${checks
        .map((c) => {
          const args = tallyArgs(c);
          return `  npx tally ${[...args.slice(0, -1), mesh.localUrl(args.at(-1)!)].map(shellQuote).join(" ")}`;
        })
        .join("\n")}\n`
    : ""
}
the live view (graph, why, traffic, checks): ${view.url}
Ctrl-C stops the mesh.
`);
  await stop;
  out("\nstopping the mesh preview\n");
  await view.close();
  await mesh.stop();
}

/**
 * `npm run demo` in this process: writes its report to io.out and returns the exit code (0 all
 * checks passed, 1 some failed); a bad command line throws a UsageError. `--serve` runs until
 * `stop` resolves.
 */
export async function demoCommand(argv: string[], io: CommandIo, stop: () => Promise<unknown>): Promise<number> {
  const { values, positionals } = parseDemoArgs(argv);
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const release = values.istio === undefined ? NEWEST_RELEASE : findRelease(values.istio);
  if (!release)
    throw new UsageError(
      `--istio ${values.istio}: the preview models Istio ${RELEASES.map((r) => r.version).join(", ")} (the releases supported upstream)`,
    );
  // kubectl renders every lesson and playground: without it, one line saying how to get it (exit 5, as the cluster commands).
  const kubectl = missingTools(["kubectl"], io.env);
  if (kubectl.length > 0) {
    io.err(`demo: ${kubectl.join("\n")}\n`);
    return EXIT.missingTool;
  }
  for (const bundle of [FLASKAPP_BUNDLE, TALLY_BUNDLE]) {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  }
  // Where the learner typed the command: npm runs scripts from the repository root and says where it was started in INIT_CWD.
  const base = io.env.INIT_CWD ?? process.cwd();
  const render: RenderOptions = { allowRemote: values["allow-remote"] ?? false, render: renderLimits(io.env) };
  // Overlay names and summaries, checks and tally's answers reach the terminal: control characters shown, never acted on.
  const out = (text: string) => io.out(visibleText(text));
  if (values.serve) {
    if (positionals.length !== 1) throw new UsageError("--serve takes one lesson or directory");
    await serve(await resolveTarget(positionals[0]!, base), release, render, out, stop());
    return 0;
  }
  const rows = await demo(await demoTargets(positionals, base, values.all), release, render, out);
  if (rows.length > 1) out(`\n${summaryTable(rows)}`);
  out(verdict(rows));
  return rows.every((r) => r.passed) ? 0 : 1;
}

/** The last line: what passed, and (for a playground without checks.yaml) that nothing was checked. */
function verdict(rows: readonly DemoRow[]): string {
  if (!rows.every((r) => r.passed)) return "\nsome checks FAILED\n";
  if (rows.every((r) => r.checks === 0))
    return "\nnothing was checked: no checks.yaml (the sample above shows what the rules did)\n";
  return "\nall checks passed\n";
}

interface DemoArgs {
  values: { serve?: boolean; istio?: string; help?: boolean; all?: boolean; "allow-remote"?: boolean };
  positionals: string[];
}

/** The command line: a mistake in it is one line (a UsageError), never node's parser message. */
export function parseDemoArgs(argv: string[]): DemoArgs {
  let parsed: DemoArgs;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        serve: { type: "boolean" },
        all: { type: "boolean" },
        istio: { type: "string" },
        "allow-remote": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw parseArgsUsageError(error);
  }
  if (parsed.values.all && parsed.values.serve)
    throw new UsageError("--all runs every lesson and stops; --serve keeps one up: choose one");
  if (parsed.values.all && parsed.positionals.length > 0)
    throw new UsageError(`--all runs every lesson: name no lesson beside it (got ${parsed.positionals.join(" ")})`);
  return parsed;
}

if (import.meta.main) {
  // While --serve waits, the first SIGINT or SIGTERM stops its mesh; otherwise (or a second time) a signal stops every pod started and exits.
  let stopServing: (() => void) | undefined;
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.on(signal, () => {
      if (stopServing) {
        stopServing();
        stopServing = undefined;
        return;
      }
      killAllPods();
      process.exit(code);
    });
  }
  const untilSignalled = () => new Promise<void>((resolve) => (stopServing = resolve));
  await runCommand("demo", USAGE, (argv) => demoCommand(argv, processIo(), untilSignalled));
}
