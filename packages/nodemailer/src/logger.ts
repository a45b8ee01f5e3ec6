/**
 * A logger in front of the caller's: every string nodemailer logs (commands, server replies,
 * error messages, entry fields) passes the transport's secret masking first. nodemailer 10
 * already shows a custom handler's commands as "AUTH X /* secret *\/"; this catches what it
 * cannot: a server that repeats a credential, and older nodemailer versions.
 *
 * Errors are masked in place. nodemailer builds its own errors from server text (a connection
 * closed after an unterminated `535 <echo>` becomes `ECONNECTION` with that reply as `response`)
 * and logs each one (`{ err }`) before it emits or returns it, so masking the logged object is
 * what keeps the credential out of the error the caller gets too. That is why `saslkit()`
 * installs this logger even when the caller has none (`logger` undefined: nothing is written).
 */
import { getLogger } from "nodemailer/lib/shared";

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
type Level = (typeof LEVELS)[number];
type LogFn = (...args: unknown[]) => unknown;
export type BunyanLike = Partial<Record<Level, LogFn>> & Record<string, unknown>;

/**
 * Masks an error's message, `response` (nodemailer's) and stack where they carry a secret, and
 * those of the per-recipient errors nodemailer keeps in `rejectedErrors` (each built from its
 * RCPT TO or LMTP reply; an EENVELOPE for "all recipients were rejected" carries them).
 */
function scrubError(error: Error, scrub: (text: string) => string): void {
  const e = error as Error & { response?: unknown; rejectedErrors?: unknown };
  for (const key of ["message", "response", "stack"] as const) {
    const text = e[key];
    if (typeof text !== "string") continue;
    const masked = scrub(text);
    if (masked !== text) e[key] = masked;
  }
  if (Array.isArray(e.rejectedErrors)) for (const r of e.rejectedErrors) if (r instanceof Error && r !== error) scrubError(r, scrub);
}

function scrubValue(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === "string") return scrub(value);
  if (value instanceof Error) {
    scrubError(value, scrub);
    return value;
  }
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v instanceof Error) scrubError(v, scrub);
      out[k] = typeof v === "string" ? scrub(v) : v;
    }
    return out;
  }
  return value;
}

/** The errors among a log call's arguments and entry fields, masked in place (nothing is written). */
function scrubErrors(args: readonly unknown[], scrub: (text: string) => string): void {
  for (const a of args) {
    if (a instanceof Error) scrubError(a, scrub);
    else if (a && typeof a === "object") for (const v of Object.values(a)) if (v instanceof Error) scrubError(v, scrub);
  }
}

/**
 * `logger` (nodemailer's `logger` option: an object, or true for its console logger) behind `scrub`;
 * `undefined`: no output, errors still masked in place. A call for which `drop` returns true is
 * not written (its errors are still masked).
 */
export function maskingLogger(logger: BunyanLike | true | undefined, scrub: (text: string) => string, drop?: (args: readonly unknown[]) => boolean): Record<Level, LogFn> {
  const out = {} as Record<Level, LogFn>;
  if (logger === undefined) {
    for (const level of LEVELS) out[level] = (...args: unknown[]) => void scrubErrors(args, scrub);
    return out;
  }
  const target: BunyanLike = logger === true ? (getLogger({ logger: true }, {}) as unknown as BunyanLike) : logger;
  for (const level of LEVELS) {
    out[level] = (...args: unknown[]) => {
      if (drop?.(args)) return void scrubErrors(args, scrub);
      // The level itself, else the fallback nodemailer uses for loggers that lack it.
      const name = typeof target[level] === "function" ? level : ["info", "debug", "log", "trace", "warn", "error"].find((n) => typeof target[n] === "function");
      if (!name) return undefined;
      return (target[name] as LogFn).apply(target, args.map((a) => scrubValue(a, scrub)));
    };
  }
  return out;
}

/**
 * nodemailer's "User undefined authenticated" entry: what it logs after a forced login in which
 * the handler sent nothing (a transport without credentials and a message without any, see
 * `perMessageOnly` in transport.ts). Nothing was authenticated, so it is not written.
 */
export function isLoginWithoutUser(args: readonly unknown[]): boolean {
  const entry = args[0] as { action?: unknown; username?: unknown } | null | undefined;
  return typeof entry === "object" && entry !== null && entry.action === "authenticated" && entry.username === undefined;
}
