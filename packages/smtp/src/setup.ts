/**
 * Connection setup (RFC 5321 §3.1, §4.1.1.1; RFC 3207) on the socket `SmtpClient.connect` opened
 * (the transport's `openClientSocket`): read the greeting, say EHLO (HELO when EHLO is refused),
 * upgrade with STARTTLS when offered or required, and say EHLO again over TLS, forgetting
 * everything learnt in clear.
 *
 * The TLS default (absent `tls`), the same in every saslkit client: STARTTLS whenever offered;
 * without it (or when the server refuses it) the session continues in clear only when no
 * credentials will be sent, the peer is on loopback, or `policy.cleartext` is `"allow"` (core's
 * `cleartextRefusal`, so `"never"` refuses even on loopback). Otherwise it ends with
 * `tls-required` before any mechanism runs: SCRAM and CRAM-MD5 too, because a stripped STARTTLS
 * would let an on-path attacker relay SCRAM without channel binding or attack either exchange
 * offline (the rule Go's net/smtp applies to PLAIN, extended to every mechanism).
 */
import { hostname } from "node:os";
import { cleartextRefusal, type ChannelInfo, type CleartextPolicy } from "@saslkit/core";
import type { LineSocket } from "@saslkit/transport";
import { SmtpError, transportFailure } from "./errors.js";
import type { SmtpClientOptions } from "./options.js";
import type { CommandPipeline } from "./pipeline.js";
import { formatReply, parseCapabilities, type SmtpCapabilities, type SmtpReply } from "./reply.js";

/**
 * Dovecot 2.3 submission panics when the next message's MAIL/RCPT/DATA arrive before the previous
 * message's final reply ("smtp_server_transaction_finished: assertion failed:
 * (conn->state.pending_rcpt_cmds == 0)"), after relaying the first message. Its default greeting
 * is "<host> Dovecot (<distro>) ready.".
 */
const DOVECOT = /\bDovecot\b/i;

/** Capabilities before any EHLO: none. */
export const NO_CAPABILITIES: SmtpCapabilities = parseCapabilities({ code: 250, lines: [], text: "" }, true);

/** What setup learns about the server; EHLO after STARTTLS replaces `capabilities`. */
export interface ServerState {
  readonly greeting: SmtpReply;
  capabilities: SmtpCapabilities;
  /** Server quirks recognised from the greeting and EHLO (see `SmtpClient.quirks`). */
  readonly quirks: string[];
}

/**
 * Test seam, not an option: when set, the client treats the peer's loopback status as this value
 * (in `channel.loopback` and in the TLS default), so tests on 127.0.0.1 can play a remote server.
 * Reached only by relative import from the package's own tests; never exported.
 */
export const peerOverride: { loopback: boolean | undefined } = { loopback: undefined };

/**
 * The channel as core sees it: the socket's facts, the RFC 4422 service name "smtp", and
 * `clientCertificate` when the caller gave one for this TLS channel (EXTERNAL may then be chosen).
 */
export function channelOf(line: LineSocket, options: Pick<SmtpClientOptions, "host" | "tlsOptions">, port: number): ChannelInfo {
  const info: { -readonly [K in keyof ChannelInfo]: ChannelInfo[K] } = line.channelInfo(options.host, port);
  info.service = "smtp";
  if (info.secure && options.tlsOptions?.cert !== undefined) info.clientCertificate = true;
  if (peerOverride.loopback !== undefined) info.loopback = peerOverride.loopback;
  return info;
}

/**
 * The TLS decision once the server's EHLO is known and the connection is not TLS yet: upgrade,
 * continue in clear, or refuse (`tls-required`, see the module comment). Pure, for tests.
 */
export function tlsDecision(input: {
  readonly mode: "starttls" | "none" | undefined;
  readonly offered: boolean;
  readonly credentials: boolean;
  readonly cleartext: CleartextPolicy | undefined;
  readonly channel: Pick<ChannelInfo, "secure" | "loopback">;
}): { readonly action: "upgrade" | "continue" } | { readonly action: "refuse"; readonly reason: string } {
  if (input.mode === "none") return { action: "continue" };
  if (input.offered) return { action: "upgrade" };
  if (input.mode === "starttls") return { action: "refuse", reason: 'tls: "starttls" requires TLS' };
  if (!input.credentials) return { action: "continue" };
  const refusal = cleartextRefusal(input.cleartext, input.channel);
  if (refusal === undefined) return { action: "continue" };
  return {
    action: "refuse",
    reason: `${refusal}, so the credentials would go in clear; refusing before any mechanism runs (tls: "none" allows challenge-response mechanisms without TLS, policy.cleartext: "allow" every mechanism)`,
  };
}

/**
 * Greeting, EHLO and, unless `tls: "none"`, STARTTLS: the TLS default or `tls: "starttls"`
 * decides what happens without it. Resolves with what was learnt; rejects with `SmtpError` (the
 * caller closes).
 */
export async function setUpSession(pipeline: CommandPipeline, options: SmtpClientOptions, port: number): Promise<ServerState> {
  const greeting = await pipeline.expect("greeting", undefined);
  if (greeting.code !== 220) throw SmtpError.fromReply("greeting", "the server refused the connection", greeting, undefined, pipeline.redact);
  const state: ServerState = { greeting, capabilities: NO_CAPABILITIES, quirks: [] };
  const ehloName = options.ehloName ?? defaultEhloName(pipeline.line);
  await hello(pipeline, state, ehloName);
  if (options.tls === "implicit" || options.tls === "none" || pipeline.line.secure) return state;
  return negotiateTls(pipeline, options, port, state, ehloName);
}

/** The TLS default or `tls: "starttls"` once the first EHLO is known: STARTTLS and EHLO again, continue in clear, or refuse. */
async function negotiateTls(pipeline: CommandPipeline, options: SmtpClientOptions, port: number, state: ServerState, ehloName: string): Promise<ServerState> {
  const line = pipeline.line;
  const decide = (offered: boolean) =>
    tlsDecision({
      mode: options.tls as "starttls" | "none" | undefined,
      offered,
      credentials: options.auth !== undefined,
      cleartext: options.policy?.cleartext,
      channel: channelOf(line, options, port),
    });
  const first = decide(state.capabilities.startTls);
  if (first.action === "refuse") throw new SmtpError("starttls", "tls-required", `the server does not offer STARTTLS and ${first.reason}; nothing was sent but EHLO.`);
  if (first.action === "continue") return state;
  const reply = await pipeline.command("starttls", "STARTTLS");
  if (reply.code !== 220) {
    const then = decide(false);
    if (then.action === "refuse") {
      throw new SmtpError("starttls", "tls-required", `the server refused STARTTLS (${formatReply(reply)}) and ${then.reason}.`, { reply, command: "STARTTLS", redact: pipeline.redact });
    }
    return state; // the TLS default without credentials at stake (or on loopback): go on in clear
  }
  try {
    await line.startTls(options.tlsOptions ?? {}, pipeline.deadline());
  } catch (error) {
    throw transportFailure(error, "starttls", "STARTTLS", pipeline.redact);
  }
  // RFC 3207 §4.2: forget everything learnt before TLS; it may have been forged.
  state.capabilities = NO_CAPABILITIES;
  await hello(pipeline, state, ehloName);
  return state;
}

/** The last EHLO name checked and its command: the same name is checked (and formatted) once, not once per session. */
let ehloChecked: { readonly name: string; readonly command: string } | undefined;

/** `EHLO <name>`, after checking `name` is one word (throws `invalid-input`). */
function ehloCommand(name: string): string {
  if (ehloChecked !== undefined && ehloChecked.name === name) return ehloChecked.command;
  if (/[\s\r\n]/.test(name) || name === "") throw new SmtpError("ehlo", "invalid-input", "the EHLO name must be one word without white space.");
  ehloChecked = { name, command: `EHLO ${name}` };
  return ehloChecked.command;
}

/** EHLO, or HELO for an old server that refuses EHLO (RFC 5321 §3.2). */
async function hello(pipeline: CommandPipeline, state: ServerState, name: string): Promise<void> {
  const command = ehloCommand(name);
  const ehlo = await pipeline.command("ehlo", command);
  if (ehlo.code === 250) {
    state.capabilities = parseCapabilities(ehlo);
    if (!state.quirks.includes("dovecot-submission") && (DOVECOT.test(state.greeting.text) || DOVECOT.test(ehlo.text))) state.quirks.push("dovecot-submission");
    return;
  }
  return helo(pipeline, state, name, ehlo);
}

/** After EHLO was refused: HELO when the server does not know EHLO (5xx), else the refusal. */
async function helo(pipeline: CommandPipeline, state: ServerState, name: string, ehlo: SmtpReply): Promise<void> {
  if (ehlo.code >= 500) {
    // An old server refuses EHLO; HELO gets a session without extensions.
    const reply = await pipeline.command("ehlo", `HELO ${name}`);
    if (reply.code === 250) {
      state.capabilities = parseCapabilities(reply, true);
      return;
    }
    throw SmtpError.fromReply("ehlo", "the server refused both EHLO and HELO", reply, `HELO ${name}`, pipeline.redact);
  }
  throw SmtpError.fromReply("ehlo", "the server refused EHLO", ehlo, `EHLO ${name}`, pipeline.redact);
}

/** The host's name when it is fully qualified, else null; looked up once per process (a uname call each time otherwise). */
let qualifiedHostName: string | null | undefined;

/**
 * The address literal sent to each peer address, kept for a few peers: the local address a peer
 * is reached from does not change between connections (a getsockname call and a string each time
 * otherwise). Keyed by the peer's address, not the host name, which may resolve to another family.
 */
const literals = new Map<string, string>();
const LITERALS_KEPT = 64;

/** This host's name if it is fully qualified, else an address literal of the local address. */
function defaultEhloName(line: LineSocket): string {
  if (qualifiedHostName === undefined) {
    const name = hostname();
    qualifiedHostName = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(name) ? name : null;
  }
  if (qualifiedHostName !== null) return qualifiedHostName;
  const peer = line.remoteAddress ?? "";
  const known = literals.get(peer);
  if (known !== undefined) return known;
  const local = line.localAddress;
  if (!local) return "[127.0.0.1]";
  const addr = local.startsWith("::ffff:") ? local.slice(7) : local;
  // A socket's local address is dotted IPv4 or IPv6 (which has colons): no need for net.isIPv6's big regex.
  const literal = addr.includes(":") ? `[IPv6:${addr}]` : `[${addr}]`;
  if (literals.size >= LITERALS_KEPT) literals.clear();
  literals.set(peer, literal);
  return literal;
}
