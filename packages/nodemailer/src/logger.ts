/**
 * A logger in front of the caller's: every string nodemailer logs (commands, server replies,
 * error messages, entry fields) passes the transport's secret masking first. nodemailer 10
 * already shows a custom handler's commands as "AUTH X /* secret *\/"; this catches what it
 * cannot: a server that repeats a credential, and older nodemailer versions.
 */
import { getLogger } from "nodemailer/lib/shared";

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
type Level = (typeof LEVELS)[number];
type LogFn = (...args: unknown[]) => unknown;
export type BunyanLike = Partial<Record<Level, LogFn>> & Record<string, unknown>;

function scrubValue(value: unknown, scrub: (text: string) => string): unknown {
  if (typeof value === "string") return scrub(value);
  if (value && typeof value === "object" && !(value instanceof Error) && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = typeof v === "string" ? scrub(v) : v;
    return out;
  }
  return value;
}

/** `logger` (nodemailer's `logger` option: an object, or true for its console logger) behind `scrub`. */
export function maskingLogger(logger: BunyanLike | true, scrub: (text: string) => string): Record<Level, LogFn> {
  const target: BunyanLike = logger === true ? (getLogger({ logger: true }, {}) as unknown as BunyanLike) : logger;
  const out = {} as Record<Level, LogFn>;
  for (const level of LEVELS) {
    out[level] = (...args: unknown[]) => {
      // The level itself, else the fallback nodemailer uses for loggers that lack it.
      const name = typeof target[level] === "function" ? level : ["info", "debug", "log", "trace", "warn", "error"].find((n) => typeof target[n] === "function");
      if (!name) return undefined;
      return (target[name] as LogFn).apply(target, args.map((a) => scrubValue(a, scrub)));
    };
  }
  return out;
}
