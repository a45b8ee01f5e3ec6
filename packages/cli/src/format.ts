/**
 * Human-readable output: negotiation reports, transcripts, errors. Pure functions.
 */
import { SaslError, type MechanismProvider, type Negotiation } from "@saslkit/core";
import { TransportError, type TranscriptEntry } from "@saslkit/transport";

/** What a provider's declared properties say about it, for the report. */
export function describeProvider(p: MechanismProvider): string {
  const traits: string[] = [];
  if (p.security.channelBinding) traits.push("channel binding");
  if (p.security.mutualAuth) traits.push("mutual authentication");
  if (p.security.sendsSecretInClear) traits.push("sends the secret in clear");
  return `priority ${p.priority}${traits.length ? `; ${traits.join(", ")}` : ""}`;
}

/**
 * The negotiation as lines: the choice, every other offered mechanism and why it was not
 * chosen (core's refusals, or "lower priority" for usable runners-up), then installed
 * mechanisms the server did not offer.
 */
export function formatNegotiation(plan: Negotiation, options: { forced?: boolean } = {}): string[] {
  const lines: string[] = [];
  const [chosen, ...others] = plan.candidates;
  lines.push(`Server offers:  ${plan.offered.join(" ") || "(no AUTH mechanisms)"}`);
  lines.push(chosen ? `Chosen:         ${chosen.name} (${describeProvider(chosen)})` : "Chosen:         none: no usable mechanism");
  const width = Math.max(12, ...plan.offered.map((n) => n.length), ...plan.refused.map((r) => r.mechanism.length)) + 2;
  const rows: string[] = [];
  for (const p of others) {
    rows.push(`  ${p.name.padEnd(width)}usable, but ${options.forced ? "later in the requested order" : `lower priority (${p.priority}) than ${chosen?.name} (${chosen?.priority})`}; tried next if ${chosen?.name} is rejected as a mechanism`);
  }
  for (const r of plan.refused) rows.push(`  ${r.mechanism.padEnd(width)}${r.reason}: ${r.explanation}`);
  if (rows.length) lines.push("Not chosen:", ...rows);
  const notOffered = plan.installed.filter((n) => !plan.offered.includes(n));
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
    const reply = (error as { reply?: { code?: number; enhanced?: string; text?: string; lines?: string[] } }).reply;
    const extra = reply && typeof reply === "object" && "code" in reply ? `\nserver said: ${[reply.code, reply.enhanced, reply.text].filter(Boolean).join(" ")}` : "";
    return `error: ${error.message}${extra}`;
  }
  return `error: ${String(error)}`;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
