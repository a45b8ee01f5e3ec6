/**
 * The collector behind the credential-leak sweeps (test/leaks-real-servers.test.ts,
 * test/leaks-cli.test.ts): everything a run produces (transcript entries, errors with their whole
 * cause chain, results, clients, CLI output) is rendered to text in every way a user could print
 * it, and searched for every form of a set of secrets (secrets.ts: raw, hex, base64 at every
 * alignment).
 */
import { inspect } from "node:util";
import { expect } from "vitest";
import type { TranscriptEntry } from "@saslkit/transport";
import { findSecrets, renderError, secretForms } from "./secrets.js";

/** The search forms of all `secrets` (deduplicated). */
export function formsOf(secrets: readonly string[]): string[] {
  return [...new Set(secrets.flatMap(secretForms))];
}

/** JSON.stringify that survives cycles, BigInt and functions (what a logger would do). */
export function safeJson(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return (
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === "bigint") return v.toString();
        if (typeof v === "function") return `[function ${(v as { name?: string }).name ?? ""}]`;
        if (v instanceof Uint8Array) return Buffer.from(v).toString("latin1");
        if (typeof v === "object" && v !== null) {
          if (seen.has(v)) return "[circular]";
          seen.add(v);
        }
        return v;
      }) ?? ""
    );
  } catch (error) {
    return `[unserialisable: ${String(error)}]`;
  }
}

const DEEP = { depth: Infinity, showHidden: true, getters: true, maxArrayLength: Infinity, maxStringLength: Infinity, breakLength: Infinity } as const;

/**
 * Every printable rendering of `value`: for an error, secrets.ts's renderError (message, stack,
 * inspect, own properties as JSON) plus, for it and each error it leads to (cause chain,
 * AggregateError members, SaslError attempts), its enumerable properties as JSON and util.inspect
 * at unlimited depth; for anything else util.inspect at unlimited depth and JSON.
 */
export function renderEverything(value: unknown): string {
  const parts: string[] = [inspect(value, DEEP), safeJson(value)];
  if (!(value instanceof Error)) return parts.join("\n");
  parts.push(renderError(value));
  const queue: unknown[] = [value];
  const seen = new Set<unknown>();
  while (queue.length > 0 && seen.size < 64) {
    const e = queue.shift();
    if (!(e instanceof Error) || seen.has(e)) continue;
    seen.add(e);
    parts.push(String(e), e.message, e.stack ?? "", safeJson(e), safeJson(Object.fromEntries(Object.getOwnPropertyNames(e).map((k) => [k, (e as unknown as Record<string, unknown>)[k]]))), inspect(e, DEEP));
    queue.push((e as { cause?: unknown }).cause);
    if (e instanceof AggregateError) queue.push(...e.errors);
    const attempts = (e as { attempts?: unknown }).attempts;
    if (Array.isArray(attempts)) for (const a of attempts) queue.push((a as { error?: unknown } | null)?.error);
  }
  return parts.join("\n");
}

/** Everything one run produced, as text, with the secret forms it must not contain. */
export class Evidence {
  readonly parts: string[] = [];
  constructor(readonly forms: readonly string[]) {}

  /** A TranscriptSink that keeps each entry (and its rendering as an object). */
  readonly sink = (entry: TranscriptEntry): void => {
    this.parts.push(`${entry.direction} ${entry.text}`, safeJson(entry));
  };

  /** Renders `value` every way (see renderEverything) under `label`. */
  add(label: string, value: unknown): void {
    this.parts.push(`--- ${label}`, renderEverything(value));
  }

  /** Raw text (CLI output, server transcripts). */
  text(label: string, text: string): void {
    this.parts.push(`--- ${label}`, text);
  }

  /** The secret forms found, with up to five lines that hold one. */
  hits(): { hits: string[]; where: string[] } {
    const all = this.parts.join("\n");
    const hits = findSecrets(all, this.forms);
    const where = hits.length ? all.split("\n").filter((l) => hits.some((h) => l.includes(h))).map((l) => l.slice(0, 300)).slice(0, 5) : [];
    return { hits, where };
  }

  /** Fails (showing where) unless nothing produced holds a secret form; also fails on no evidence at all. */
  assertClean(): void {
    expect(this.parts.join("").length).toBeGreaterThan(0);
    expect(this.hits()).toEqual({ hits: [], where: [] });
  }
}
