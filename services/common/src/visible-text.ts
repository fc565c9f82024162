// Text from outside (a response body, a header value, an error message, a
// command-line argument, a YAML file) made safe to write to a terminal: every
// character a terminal would act on instead of print is shown as an escape, so
// an answer cannot set the window title, clear the screen, move the cursor or
// draw a fake green PASS. For the terminal only; JSON written where a terminal
// may show it goes through terminalJson, which keeps it the same JSON.

// C0 controls (U+0000-U+001F, ESC among them), DEL (U+007F) and the C1 controls
// (U+0080-U+009F: U+009B is a one-character CSI, U+009D an OSC), plus the
// characters that make a terminal or a viewer lay text out other than it reads:
// the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E,
// U+200F, U+202A-U+202E, U+2066-U+2069: "Trojan Source") and the line and
// paragraph separators U+2028 and U+2029.
const OTHERS = "\\x0b-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";
/** Everything above but tab and line feed, which keep the layout of multi-line text. */
const UNSAFE_KEEPING_LAYOUT = new RegExp(`[\\x00-\\x08${OTHERS}]`, "g");
/** Everything above, tab and line feed included. */
const UNSAFE = new RegExp(`[\\x00-\\x0a${OTHERS}]`, "g");

const NAMED: Record<string, string> = { "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** `\t`, `\n`, `\r` by name; `\x1b` for the other controls up to U+00FF; `\u202e` above. */
function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `text` as it may be written to a terminal: every control character shown as an
 * escape a person can read (ESC as `\x1b`, CR as `\r`, the C1 CSI as `\x9b`, a
 * bidi override as `\u202e`), everything else unchanged. Line feeds and tabs are
 * kept, so multi-line text keeps its lines; use {@link visibleLine} for a
 * one-line field (a table cell, a key, a message inside a line).
 *
 * For display only: a backslash is not escaped, so the result cannot be turned
 * back into `text` (a body with the four characters `\x1b` shows the same as one
 * with ESC), and neither of them can act on the terminal.
 */
export function visibleText(text: string): string {
  // The common case, text with nothing to escape, costs one scan and no copy.
  UNSAFE_KEEPING_LAYOUT.lastIndex = 0;
  return UNSAFE_KEEPING_LAYOUT.test(text) ? text.replace(UNSAFE_KEEPING_LAYOUT, escapeChar) : text;
}

/** {@link visibleText} for a one-line field: line feeds and tabs are escaped too (`\n`, `\t`). */
export function visibleLine(text: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(text) ? text.replace(UNSAFE, escapeChar) : text;
}

// What JSON.stringify leaves raw but a terminal may act on: DEL, the C1 controls
// and the layout characters above (it escapes only U+0000-U+001F).
const UNSAFE_IN_JSON = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `JSON.stringify(value, null, indent)` with the characters it leaves raw that a
 * terminal may act on (DEL, C1 controls, bidi and line-separator characters)
 * written as `\u009b` escapes: the same JSON (JSON.parse gives back the same
 * value), safe to print. Those characters can only be inside strings, where a
 * `\uXXXX` escape means the character itself.
 */
export function terminalJson(value: unknown, indent?: number): string {
  const json = JSON.stringify(value, null, indent);
  UNSAFE_IN_JSON.lastIndex = 0;
  return json === undefined || !UNSAFE_IN_JSON.test(json)
    ? json
    : json.replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
