/**
 * `saslkit probe URL`: connect, show the capabilities, which mechanism saslkit would choose for
 * a user with a password (and, with --oauth, a token), and why each other one was not chosen.
 * It never authenticates and never asks for a secret.
 */
import { Credentials, cleartextRefusal, planNegotiation, type ChannelInfo, type CleartextPolicy, type MechanismProvider } from "@saslkit/core";
import { ImapClient } from "@saslkit/imap";
import { Pop3Client } from "@saslkit/pop3";
import type { TlsSettings, TranscriptSink } from "@saslkit/transport";
import { FailureWithContext, formatNegotiation, formatTranscriptEntry, viewOfPlan } from "../format.js";
import { NEGOTIATION, TLS_TRUST, parseCommand, str, type CommandSpec } from "../args.js";
import { UsageError, type CliIo } from "../io.js";
import { installedProviders } from "../mechanisms.js";
import { isLoopbackHost, negotiationControls, refuseSecretFlags, tlsTrust } from "../options.js";
import { snapshotChannel } from "./channel-snapshot.js";
import { probeSmtp } from "./probe-smtp.js";

export const PROBE: CommandSpec = {
  name: "probe",
  summary: "show a server's capabilities, the mechanism saslkit would choose, and why not the others",
  usage: "saslkit probe URL [options]     URL: smtp://host[:port], smtps://, imap://, imaps://, pop3://, pop3s://",
  options: {
    user: { type: "string", short: "u", value: "USER", help: "plan for this user name (default \"user\")" },
    oauth: { type: "boolean", help: "plan as if an OAuth token were available too" },
    tls: { type: "string", value: "MODE", help: "override the URL's TLS mode: implicit, starttls or none" },
    ...TLS_TRUST,
    ...NEGOTIATION,
    debug: { type: "boolean", short: "d", help: "print the transcript on stderr" },
  },
  notes: `probe never authenticates and never asks for a secret. Exit status 0 when saslkit could log in
with a password (or token), 1 when it would refuse or finds no usable mechanism.

Examples:
  saslkit probe smtp://mail.example.org:587
  saslkit probe imaps://mail.example.org --oauth
  saslkit probe pop3://mail.example.org --no-plus --exclude CRAM-MD5`,
};

type Protocol = "smtp" | "imap" | "pop3";
type TlsMode = "implicit" | "starttls" | "none";

const SCHEMES: Record<string, { protocol: Protocol; tls: TlsMode; port: number }> = {
  "smtp:": { protocol: "smtp", tls: "starttls", port: 587 },
  "smtps:": { protocol: "smtp", tls: "implicit", port: 465 },
  "imap:": { protocol: "imap", tls: "starttls", port: 143 },
  "imaps:": { protocol: "imap", tls: "implicit", port: 993 },
  "pop3:": { protocol: "pop3", tls: "starttls", port: 110 },
  "pop3s:": { protocol: "pop3", tls: "implicit", port: 995 },
};

/** What a protocol prober learnt from the server. */
export interface ProbeFindings {
  readonly greeting?: string;
  /** Capability lines as the server sent them (after TLS when TLS was used). */
  readonly capabilities: readonly string[];
  /** SASL mechanism names the server advertises. */
  readonly offered: readonly string[];
  readonly secure: boolean;
  /** The connection's channel as the client saw it, with its real channel-binding types (read before logout). */
  readonly channel: ChannelInfo;
  readonly notes: readonly string[];
}

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly tlsOptions: TlsSettings;
  readonly transcript?: TranscriptSink;
  readonly mechanisms: readonly MechanismProvider[];
}

/** `text` as a usage error may show it: anything up to its last `@` (user information, a password) masked. */
function shownUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:?\/*)?.*@/i, "$1****@");
}

/** Parses a probe URL (`imaps://mail.example.org:993`). */
export function parseProbeUrl(text: string): { protocol: Protocol; host: string; port: number; tls: TlsMode } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`"${shownUrl(text)}" is not a URL; write e.g. smtp://mail.example.org:587.`);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme) throw new UsageError(`unsupported scheme "${url.protocol}"; use smtp, smtps, imap, imaps, pop3 or pop3s.`);
  if (url.username || url.password) throw new UsageError("put no user or password in the URL; use --user (probe never needs a password).");
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  if (!host) throw new UsageError(`the URL "${shownUrl(text)}" has no host.`);
  return { protocol: scheme.protocol, host, port: url.port ? Number(url.port) : scheme.port, tls: scheme.tls };
}

export async function probe(argv: readonly string[], io: CliIo): Promise<number> {
  refuseSecretFlags(argv);
  const { values, positionals } = parseCommand(PROBE, argv);
  if (positionals.length !== 1) throw new UsageError("probe takes exactly one URL, e.g. saslkit probe smtp://mail.example.org:587.");
  const target = parseProbeUrl(positionals[0]!);
  let tls = target.tls;
  const tlsValue = str(values.tls);
  if (tlsValue !== undefined) {
    if (!["implicit", "starttls", "none"].includes(tlsValue)) throw new UsageError(`--tls must be implicit, starttls or none, not "${tlsValue}".`);
    tls = tlsValue as TlsMode;
  }
  const tlsOptions = await tlsTrust({ ca: str(values.ca), insecure: values.insecure === true }, io);
  const mechanisms = await installedProviders();
  const controls = negotiationControls(values, mechanisms.map((p) => p.name));
  const transcript: TranscriptSink | undefined = values.debug ? (e) => io.stderr.write(`${formatTranscriptEntry(e)}\n`) : undefined;
  const probeTarget: ProbeTarget = { host: target.host, port: target.port, tls, tlsOptions, mechanisms, ...(transcript ? { transcript } : {}) };

  io.stdout.write(`Probing ${target.protocol}://${target.host}:${target.port} (${tls === "implicit" ? "implicit TLS" : tls === "starttls" ? "STARTTLS when offered" : "no TLS"})\n`);
  let findings: ProbeFindings;
  try {
    findings = target.protocol === "smtp" ? await probeSmtp(probeTarget) : target.protocol === "imap" ? await probeImap(probeTarget) : await probePop3(probeTarget);
  } catch (error) {
    throw new FailureWithContext(error, { tls, port: target.port });
  }

  if (findings.greeting) io.stdout.write(`Greeting:       ${findings.greeting}\n`);
  const loopback = isLoopbackHost(target.host);
  io.stdout.write(`Channel:        ${findings.secure ? "TLS" : "cleartext"}${loopback ? " (loopback)" : ""}\n`);
  for (const note of findings.notes) io.stdout.write(`Note:           ${note}\n`);
  io.stdout.write("Capabilities:\n");
  for (const cap of findings.capabilities) io.stdout.write(`  ${cap}\n`);

  const channel = findings.channel;
  const bindingNote = channel.secure ? ` (channel binding: ${channel.channelBinding?.types.join(", ") || "none available"})` : "";
  const user = str(values.user) ?? "user";
  // Planning only: these callbacks are never called, no secret is asked for or sent.
  const credentials = Credentials.from({
    username: user,
    password: (): Promise<string> => Promise.reject(new Error("probe never reads a password")),
    ...(values.oauth ? { tokenProvider: (): Promise<string> => Promise.reject(new Error("probe never reads a token")) } : {}),
  });
  const plan = planNegotiation(mechanisms, {
    offered: findings.offered,
    credentials,
    channel,
    policy: controls.policy,
    ...(controls.mechanismOptions ? { options: controls.mechanismOptions } : {}),
  });
  io.stdout.write(`Negotiation for user "${user}" with a password${values.oauth ? " and an OAuth token" : ""}${bindingNote}:\n`);
  for (const line of formatNegotiation(viewOfPlan(plan), mechanisms, { forced: controls.policy.force !== undefined || controls.policy.order !== undefined })) io.stdout.write(`${line}\n`);

  // Issue: TLS left to the client (no --tls), no TLS obtained, a remote host: the clients end the
  // connection with "tls-required" before any mechanism runs. Say so instead of showing a choice
  // that would never be made.
  if (refusedForTls({ tlsOption: tlsValue, schemeTls: target.tls, secure: findings.secure, loopback, cleartext: controls.policy.cleartext })) {
    for (const line of tlsRequiredExplanation(target.protocol)) io.stdout.write(`${line}\n`);
    return 1;
  }
  return plan.candidates.length ? 0 : 1;
}

/**
 * The clients' TLS default (issue 10 item 8): with TLS left to them (no --tls; the URL's STARTTLS
 * scheme) and credentials to send, a connection that did not become TLS continues only where
 * core's cleartext rule allows it (`--cleartext`: loopback by default, `allow` everywhere, `never`
 * nowhere); otherwise the client ends it with "tls-required" before any mechanism runs.
 */
export function refusedForTls(facts: { tlsOption: string | undefined; schemeTls: TlsMode; secure: boolean; loopback: boolean; cleartext?: CleartextPolicy | undefined }): boolean {
  if (facts.tlsOption !== undefined || facts.schemeTls !== "starttls" || facts.secure) return false;
  return cleartextRefusal(facts.cleartext, { secure: false, loopback: facts.loopback }) !== undefined;
}

/** Why saslkit will not send credentials to this server, and what the user can do. */
export function tlsRequiredExplanation(protocol: Protocol): string[] {
  const verb = protocol === "smtp" ? "STARTTLS" : protocol === "imap" ? "STARTTLS" : "STLS";
  const implicit = protocol === "smtp" ? "smtps:// (port 465)" : protocol === "imap" ? "imaps:// (port 993)" : "pop3s:// (port 995)";
  return [
    `Refused:        saslkit would not log in here (tls-required). The server offers no ${verb} and is not on`,
    "                loopback: with TLS left to the client, credentials never go out in clear. This holds for",
    "                SCRAM and CRAM-MD5 too: an attacker who strips STARTTLS can relay SCRAM without channel",
    "                binding and attack SCRAM and CRAM-MD5 transcripts offline.",
    `What to do:     use TLS (${implicit}, or a port that offers ${verb}); or, knowing the risk,`,
    "                --tls none (challenge-response mechanisms only), or --cleartext allow (any mechanism).",
  ];
}

/**
 * What the IMAP and POP3 probes connect with: never authenticating, STARTTLS when offered but not
 * required (the client's TLS default without credentials; the probe reports its absence).
 */
function connectOptions(target: ProbeTarget) {
  return {
    host: target.host,
    port: target.port,
    ...(target.tls !== "starttls" ? { tls: target.tls } : {}),
    tlsOptions: target.tlsOptions,
    mechanisms: target.mechanisms,
    ...(target.transcript ? { transcript: target.transcript } : {}),
  };
}

async function probeImap(target: ProbeTarget): Promise<ProbeFindings> {
  const connection = await ImapClient.connect(connectOptions(target));
  try {
    const caps = connection.capabilities;
    const notes: string[] = [];
    if (target.tls === "starttls" && !connection.secure) notes.push("the server does not offer STARTTLS: secrets would travel in clear.");
    if (caps.loginDisabled) notes.push("LOGINDISABLED: the IMAP LOGIN command is refused on this channel.");
    return { capabilities: caps.list(), offered: caps.mechanisms, secure: connection.secure, channel: snapshotChannel(connection.channel), notes };
  } finally {
    await connection.logout().catch(() => connection.close());
  }
}

async function probePop3(target: ProbeTarget): Promise<ProbeFindings> {
  const connection = await Pop3Client.connect(connectOptions(target));
  try {
    const caps = connection.capabilities;
    const notes: string[] = [];
    if (target.tls === "starttls" && !connection.secure) notes.push("the server does not offer STLS: secrets would travel in clear.");
    const greeting = connection.greeting;
    return {
      ...(greeting ? { greeting: `${greeting.status} ${greeting.text}`.trimEnd() } : {}),
      capabilities: caps.list().map((name) => [name, ...(caps.args(name) ?? [])].join(" ")),
      offered: caps.mechanisms,
      secure: connection.secure,
      channel: snapshotChannel(connection.channel),
      notes,
    };
  } finally {
    await connection.quit().catch(() => connection.close());
  }
}
