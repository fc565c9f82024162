// Command lines as a learner would type them: each argument quoted only where a shell
// needs it, so every printed command can be pasted.
/** Shell-quotes one argument for display, so a printed command can be pasted. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function formatCommand(argv: string[]): string {
  return `$ ${argv.map(shellQuote).join(" ")}`;
}
