// The tally command: `tally [options] URL [Name:Value ...]` (see args.ts for the options).
import { runCli } from "./tally.ts";

// A reader that goes away early (`tally ... | head -3`) is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
});

try {
  process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr });
} catch (err) {
  process.stderr.write(`tally: unexpected failure: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 3;
}
