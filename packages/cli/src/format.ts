/**
 * Human-readable output: negotiation reports, transcripts, errors. Pure functions.
 */
import { SaslError, type AttemptRecord, type MechanismProvider, type Negotiation, type Refusal } from "@saslkit/core";
import { TransportError, type TranscriptEntry } from "@saslkit/transport";

/** What a provider's declared properties say about it, for the report. */
export function describeProvider(p: MechanismProvider): string {
  const traits: string[] = [];
  if (p.security.channelBinding) traits.push("channel binding");
  if (p.security.mutualAuth) traits.push("mutual authentication");
  if (p.security.sendsSecretInClear) traits.push("sends the secret in clear");
  return `priority ${p.priority}${traits.length ? `; ${traits.join(", ")}` : ""}`;
}

/** A negotiation as the CLI shows it: core's `Negotiation` or the SMTP client's `SmtpNegotiation`. */
export interface NegotiationView {
  readonly offered: readonly string[];
  readonly installed: readonly string[];
  /** Usable mechanisms, best first. */
  readonly candidates: readonly string[];
  readonly refused: readonly Refusal[];
  /** The mechanism that authenticated (defaults to the first candidate when only planned). */
  readonly chosen?: string | undefined;
  /** Mechanisms tried, when an exchange ran. */
  readonly attempts?: readonly AttemptRecord[];
}

/** Core's plan as a view. */
export function viewOfPlan(plan: Negotiation): NegotiationView {
  return { offered: plan.offered, installed: plan.installed, candidates: plan.candidates.map((p) => p.name), refused: plan.refused };
}

/**
 * The negotiation as lines: the choice, every other offered mechanism and why it was not
 * chosen (core's refusals, or "lower priority" for usable runners-up), then installed
 * mechanisms the server did not offer. `providers` supplies priorities and properties.
 */
export function formatNegotiation(view: NegotiationView, providers: readonly MechanismProvider[], options: { forced?: boolean } = {}): string[] {
  const byName = new Map(providers.map((p) => [p.name, p]));
  const lines: string[] = [];
  const chosenName = view.chosen ?? view.candidates[0];
  const chosen = chosenName !== undefined ? byName.get(chosenName) : undefined;
  lines.push(`Server offers:  ${view.offered.join(" ") || "(no AUTH mechanisms)"}`);
  lines.push(chosenName ? `Chosen:         ${chosenName}${chosen ? ` (${describeProvider(chosen)})` : ""}` : "Chosen:         none: no usable mechanism");
  const failed = (view.attempts ?? []).filter((a) => a.error);
  for (const a of failed) lines.push(`Tried first:    ${a.mechanism}, which failed (${a.error?.code}): ${a.error?.message}`);
  const width = Math.max(12, ...view.offered.map((n) => n.length), ...view.refused.map((r) => r.mechanism.length)) + 2;
  const rows: string[] = [];
  for (const name of view.candidates) {
    if (name === chosenName || failed.some((a) => a.mechanism === name)) continue;
    const p = byName.get(name);
    const why = options.forced ? "later in the requested order" : `lower priority (${p?.priority ?? "?"}) than ${chosenName} (${chosen?.priority ?? "?"})`;
    rows.push(`  ${name.padEnd(width)}usable, but ${why}`);
  }
  for (const r of view.refused) rows.push(`  ${r.mechanism.padEnd(width)}${r.reason}: ${r.explanation}`);
  if (rows.length) lines.push("Not chosen:", ...rows);
  const notOffered = view.installed.filter((n) => !view.offered.includes(n));
  if (notOffered.length) lines.push(`Installed, not offered by the server: ${notOffered.join(" ")}`);
  return lines;
}

/** `C: EHLO x` / `S: 250 ...` / `*  TLS started`. */
export function formatTranscriptEntry(entry: TranscriptEntry): string {
  return entry.direction === "*" ? `*  ${entry.text}` : `${entry.direction}: ${entry.text}`;
}

/** One error as a sentence or two, with the server's reply and attempts when known. Never a credential (errors never hold one). */
export function formatError(error: unknown): string {
  if (error instanceof SaslError) {
    const lines = [`error: ${error.message}`];
    if (error.reply) lines.push(`server said: ${error.reply.status}${error.reply.enhanced ? ` ${error.reply.enhanced}` : ""} ${error.reply.text}`.trimEnd());
    if (error.attempts.length > 1) lines.push(`tried: ${error.attempts.map((a) => `${a.mechanism}${a.error ? ` (${a.error.code})` : " (ok)"}`).join(", ")}`);
    return lines.join("\n");
  }
  if (error instanceof TransportError) return `error: ${error.message} (${error.code})`;
  if (error instanceof Error) {
    const cause = error.cause;
    const attempts = cause instanceof SaslError && cause.attempts.length > 1 ? `\ntried: ${cause.attempts.map((a) => `${a.mechanism}${a.error ? ` (${a.error.code})` : " (ok)"}`).join(", ")}` : "";
    const reply = (error as { reply?: { code?: number; enhanced?: string; text?: string; lines?: string[] } }).reply;
    const extra = reply && typeof reply === "object" && "code" in reply ? `\nserver said: ${[reply.code, reply.enhanced, reply.text].filter(Boolean).join(" ")}` : "";
    return `error: ${error.message}${extra}${attempts}`;
  }
  return `error: ${String(error)}`;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
