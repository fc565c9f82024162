// The tally command: `tally [options] URL [Name:Value ...]` (see args.ts for the options).
import { visibleLine } from "#common/visible-text.ts";
import { runCli } from "./tally.ts";

// A reader that goes away early (`tally ... | head -3`) is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
});

try {
  process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
} catch (err) {
  // A bug in tally: one line (control characters made visible), and the one exit code kept for it.
  process.stderr.write(`tally: unexpected failure: ${visibleLine(err instanceof Error ? err.message : String(err))}\n`);
  process.exitCode = 3;
}
