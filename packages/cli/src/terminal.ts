/**
 * Terminal safety: nothing a server sends reaches the user's terminal as a control sequence.
 *
 * The model is OpenSSH's fix for CVE-2019-6109 (scp printed server-supplied names raw, so a
 * server could rewrite the terminal): every byte that is not printable text is replaced by a
 * visible escape before output. Here the rule is applied once, where the CLI writes (`main` wraps
 * stdout and stderr), so every greeting, capability, reply, transcript line and error message is
 * covered, including text no command remembered to clean. The CLI's own progress line is the only
 * writer allowed raw control characters, through `CliIo.terminal`.
 *
 * Neutralised: C0 controls except TAB and LF (so ESC, BEL, BS, CR, NUL), DEL, C1 controls
 * U+0080-U+009F (8-bit CSI U+009B and OSC U+009D are honoured by some terminals), and the Unicode
 * bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which reorder what is shown.
 * Each becomes `\xHH` or `\u{HHHH}`; text stays readable and nothing is lost.
 */
import type { OutputStream } from "./io.js";

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/gu;

/** `text` with every control character shown as a visible escape (`ESC` becomes `\x1b`). */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

/** A stream whose every write goes through `terminalSafe`. */
export function safeOutput(stream: OutputStream): OutputStream {
  return {
    write: (text: string) => stream.write(terminalSafe(String(text))),
    ...(stream.isTTY !== undefined ? { isTTY: stream.isTTY } : {}),
  };
}

/**
 * One progress line. On a terminal it is redrawn in place (carriage return, erase line) at most
 * ten times a second and ended with a newline by `done`; elsewhere (a log file, a pipe) only the
 * final state is written, once, so logs hold no carriage returns. Text shown is the CLI's own.
 */
export class ProgressLine {
  #last = 0;
  #shown = false;
  #text: string | undefined;
  readonly #tty: boolean;
  constructor(private readonly out: OutputStream, private readonly now: () => number = Date.now) {
    this.#tty = out.isTTY === true;
  }

  update(text: string, force = false): void {
    this.#text = text;
    if (!this.#tty) return;
    const t = this.now();
    if (!force && this.#shown && t - this.#last < 100) return;
    this.#last = t;
    this.#shown = true;
    this.out.write(`\r\x1b[2K${terminalSafe(text)}`);
  }

  done(): void {
    if (this.#tty && this.#shown) this.out.write("\n");
    else if (!this.#tty && this.#text !== undefined) this.out.write(`${terminalSafe(this.#text)}\n`);
    this.#shown = false;
    this.#text = undefined;
  }
}
