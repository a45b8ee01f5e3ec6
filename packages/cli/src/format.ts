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

/** Hints for the person at the terminal, by what went wrong (never by guessing from text alone). */
export interface ErrorContext {
  /** The TLS mode used and the port, for "try the other mode" hints. */
  readonly tls?: "implicit" | "starttls" | "none" | undefined;
  readonly port?: number | undefined;
  /** Installed mechanism names, for "unknown mechanism" answers. */
  readonly installed?: readonly string[] | undefined;
}

/** A failure with what the command knew when it happened (TLS mode, port, installed names), for hints. */
export class FailureWithContext extends Error {
  override readonly name = "FailureWithContext";
  constructor(readonly error: unknown, readonly context: ErrorContext) {
    super(error instanceof Error ? error.message : String(error));
  }
}

const field = (error: unknown, name: string): unknown => (error !== null && typeof error === "object" ? (error as Record<string, unknown>)[name] : undefined);

/** The chain of causes, outermost first. */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = error; e !== undefined && e !== null && out.length < 8; e = field(e, "cause")) out.push(e);
  return out;
}

/** "a.." -> "a.", "(x.)." -> "(x)." and trims: one full stop per sentence. */
export function tidySentence(text: string): string {
  return text.replace(/\.\)\./g, ").").replace(/(?<!\.)\.\.(?!\.)/g, ".").replace(/\s+$/, "");
}

/** The server's reply as one line: code, enhanced code once, text. */
export function formatServerReply(reply: unknown): string | undefined {
  if (!reply || typeof reply !== "object") return undefined;
  const code = field(reply, "code") ?? field(reply, "status");
  const enhanced = field(reply, "enhanced");
  let text = String(field(reply, "text") ?? "").replace(/\s*\n\s*/g, " ").trim();
  if (typeof enhanced === "string" && enhanced && text.startsWith(enhanced)) text = text.slice(enhanced.length).trim();
  const parts = [code, enhanced, text].filter((p) => p !== undefined && p !== null && p !== "").map(String);
  return parts.length ? parts.join(" ") : undefined;
}

/** True when the failure is about TLS (handshake, certificate, STARTTLS refused or missing). */
function isTlsFailure(error: unknown): boolean {
  return chain(error).some((e) => {
    const code = field(e, "code");
    return code === "tls-failed" || code === "tls-required" || code === "tls-injection" || field(e, "phase") === "tls" || (typeof code === "string" && /^(ERR_TLS_|CERT_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|ERR_SSL_)/.test(code));
  });
}

/**
 * Codes of a failure in the authentication phase that are about the network or the protocol, not
 * the credentials or the mechanisms: a connection that broke during AUTH is a failure (1).
 */
const NOT_AUTH_OUTCOME: ReadonlySet<string> = new Set([
  "connect-failed",
  "timeout",
  "closed",
  "line-too-long",
  "aborted",
  "protocol-error",
  "bad-state",
  "too-many-rounds",
  "challenge-too-large",
  "response-too-large",
  "too-many-responses",
]);

/** True when authentication failed: credentials refused or no mechanism both sides can use. */
function isAuthFailure(error: unknown): boolean {
  return chain(error).some(
    (e) =>
      field(e, "name") === "NoMechanismError" ||
      ((field(e, "phase") === "auth" || field(e, "phase") === "authenticate") && !NOT_AUTH_OUTCOME.has(String(field(e, "code")))) ||
      (field(e, "name") === "SaslError" && field(e, "kind") === "outcome"),
  );
}

/** The exit status for a failure (see main.ts): 3 authentication, 4 TLS, else 1. */
export function exitStatusOf(error: unknown): number {
  if (isTlsFailure(error)) return 4;
  if (isAuthFailure(error)) return 3;
  return 1;
}

/** What to try next after a TLS failure. */
function tlsHints(error: unknown, context: ErrorContext): string[] {
  const text = chain(error).map((e) => `${String(field(e, "code") ?? "")} ${String(field(e, "message") ?? "")}`).join(" ");
  const hints: string[] = [];
  if (/certificate|CERT_|SELF_SIGNED|DEPTH_ZERO|UNABLE_TO_(GET|VERIFY)|altnames|Hostname/i.test(text)) {
    hints.push("the server's certificate was not accepted: for a private CA pass --ca FILE (PEM); check that --host is the name on the certificate.");
  }
  if (context.tls === "implicit") hints.push(`the server may expect STARTTLS instead: try --tls starttls (usually port 587)${context.port === 587 ? "" : ", or check --port"}.`);
  else if (context.tls === "starttls" || context.tls === undefined) {
    if (/tls-required|STARTTLS/i.test(text)) hints.push("the server offered no STARTTLS here: try implicit TLS with --tls implicit --port 465, or a submission port that offers it.");
    else if (/wrong version number|packet length|unexpected eof|ECONNRESET|EPROTO/i.test(text)) hints.push("the server may speak implicit TLS on this port: try --tls implicit (usually port 465).");
  }
  return hints;
}

/**
 * One error as sentences a person can act on: the message once (no repeated status codes, no
 * doubled full stops), the server's reply when the message does not already carry it, the
 * mechanisms tried, and a hint for TLS and mechanism-name mistakes. Never a credential: errors
 * never hold one, and the output is filtered for control characters by `main`.
 */
export function formatError(error: unknown, context: ErrorContext = {}): string {
  if (!(error instanceof Error)) return `error: ${tidySentence(String(error))}`;
  const lines = [`error: ${tidySentence(error.message)}`];
  const reply = chain(error).map((e) => formatServerReply(field(e, "reply"))).find((r) => r !== undefined);
  if (reply && !error.message.includes(reply) && !lines[0]!.includes(reply)) lines.push(`server said: ${reply}`);
  const sasl = chain(error).find((e) => e instanceof SaslError) as SaslError | undefined;
  if (sasl && sasl.attempts.length > 1) lines.push(`tried: ${sasl.attempts.map((a) => `${a.mechanism}${a.error ? ` (${a.error.code})` : " (ok)"}`).join(", ")}`);
  const notInstalled = sasl && field(sasl, "refused") ? (field(sasl, "refused") as readonly Refusal[]).filter((r) => r.reason === "not-installed") : [];
  if (notInstalled.length && context.installed?.length) lines.push(`installed mechanisms: ${context.installed.join(" ")}`);
  if (isTlsFailure(error)) for (const hint of tlsHints(error, context)) lines.push(`hint: ${hint}`);
  if (error instanceof TransportError && !lines[0]!.includes(`(${error.code})`) && !isTlsFailure(error)) lines[0] = `${lines[0]} (${error.code})`;
  return lines.join("\n");
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
