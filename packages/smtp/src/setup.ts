/**
 * Connection setup (RFC 5321 §3.1, §4.1.1.1; RFC 3207): open the socket, read the greeting, say
 * EHLO (HELO when EHLO is refused), upgrade with STARTTLS when offered or required, and say EHLO
 * again over TLS, forgetting everything learnt in clear.
 */
import { hostname } from "node:os";
import { Deadline, LineSocket, type Redactor, type TranscriptEntry, type TranscriptSink } from "@saslkit/transport";
import { SmtpError, transportFailure } from "./errors.js";
import type { ResolvedTimeouts, SmtpClientOptions } from "./options.js";
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
 * Opens the socket (TCP, or TLS for `tls: "implicit"`). The caller's transcript sink sees every
 * entry through `secrets`, so a server echoing a credential cannot leak it there.
 */
export async function openSocket(options: SmtpClientOptions, port: number, timeouts: ResolvedTimeouts, secrets: Redactor): Promise<LineSocket> {
  const sink = options.transcript;
  const transcript: TranscriptSink | undefined = sink
    ? (entry: TranscriptEntry) => {
        const text = secrets.scrub(entry.text);
        sink(text === entry.text ? entry : { direction: entry.direction, text });
      }
    : undefined;
  try {
    return await LineSocket.connect({
      host: options.host,
      port,
      tls: options.tls === "implicit" ? (options.tlsOptions ?? {}) : false,
      connectTimeoutMs: timeouts.connect,
      ...(options.maxLineBytes !== undefined ? { maxLineBytes: options.maxLineBytes } : {}),
      ...(transcript ? { transcript } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (error) {
    throw transportFailure(error, "connect", undefined);
  }
}

/**
 * Greeting, EHLO and, unless `tls: "none"`, STARTTLS when offered; TLS is then enforced when
 * `requireTls`. Resolves with what was learnt; rejects with `SmtpError` (the caller closes).
 */
export async function setUpSession(pipeline: CommandPipeline, options: SmtpClientOptions, timeouts: ResolvedTimeouts, requireTls: boolean): Promise<ServerState> {
  const greeting = await pipeline.expect("greeting", undefined, timeouts.greeting);
  if (greeting.code !== 220) throw SmtpError.fromReply("greeting", "the server refused the connection", greeting);
  const state: ServerState = { greeting, capabilities: NO_CAPABILITIES, quirks: [] };
  const ehloName = options.ehloName ?? defaultEhloName(pipeline.line.localAddress);
  await hello(pipeline, state, ehloName);
  const line = pipeline.line;
  if (options.tls !== "none" && !line.secure) {
    if (state.capabilities.startTls) await startTls(pipeline, state, options, timeouts, ehloName, requireTls);
    else if (requireTls) throw new SmtpError("tls", "tls-required", "the server does not offer STARTTLS and TLS is required; nothing was sent in clear beyond EHLO.");
  }
  if (requireTls && !line.secure) throw new SmtpError("tls", "tls-required", "the connection is not TLS and TLS is required.");
  return state;
}

/** EHLO, or HELO for an old server that refuses EHLO (RFC 5321 §3.2). */
async function hello(pipeline: CommandPipeline, state: ServerState, name: string): Promise<void> {
  if (/[\s\r\n]/.test(name) || name === "") throw new SmtpError("ehlo", "invalid-input", "the EHLO name must be one word without white space.");
  const ehlo = await pipeline.command("ehlo", `EHLO ${name}`);
  if (ehlo.code === 250) {
    state.capabilities = parseCapabilities(ehlo);
    if (!state.quirks.includes("dovecot-submission") && (DOVECOT.test(state.greeting.text) || DOVECOT.test(ehlo.text))) state.quirks.push("dovecot-submission");
    return;
  }
  if (ehlo.code >= 500) {
    // An old server refuses EHLO; HELO gets a session without extensions.
    const helo = await pipeline.command("ehlo", `HELO ${name}`);
    if (helo.code === 250) {
      state.capabilities = parseCapabilities(helo, true);
      return;
    }
    throw SmtpError.fromReply("ehlo", "the server refused both EHLO and HELO", helo, `HELO ${name}`);
  }
  throw SmtpError.fromReply("ehlo", "the server refused EHLO", ehlo, `EHLO ${name}`);
}

async function startTls(pipeline: CommandPipeline, state: ServerState, options: SmtpClientOptions, timeouts: ResolvedTimeouts, ehloName: string, required: boolean): Promise<void> {
  const reply = await pipeline.command("tls", "STARTTLS");
  if (reply.code !== 220) {
    if (required) throw new SmtpError("tls", "tls-required", `the server refused STARTTLS (${formatReply(reply)}) and TLS is required.`, { reply, command: "STARTTLS" });
    return; // opportunistic: continue in clear, as asked
  }
  try {
    await pipeline.line.startTls(options.tlsOptions ?? {}, Deadline.in(timeouts.command));
  } catch (error) {
    throw transportFailure(error, "tls", "STARTTLS");
  }
  // RFC 3207 §4.2: forget everything learnt before TLS; it may have been forged.
  state.capabilities = NO_CAPABILITIES;
  await hello(pipeline, state, ehloName);
}

/** The host's name when it is fully qualified, else null; looked up once per process (a uname call each time otherwise). */
let qualifiedHostName: string | null | undefined;

/** This host's name if it is fully qualified, else an address literal of the local address. */
function defaultEhloName(local: string | undefined): string {
  if (qualifiedHostName === undefined) {
    const name = hostname();
    qualifiedHostName = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(name) ? name : null;
  }
  if (qualifiedHostName !== null) return qualifiedHostName;
  if (!local) return "[127.0.0.1]";
  const addr = local.startsWith("::ffff:") ? local.slice(7) : local;
  // A socket's local address is dotted IPv4 or IPv6 (which has colons): no need for net.isIPv6's big regex.
  return addr.includes(":") ? `[IPv6:${addr}]` : `[${addr}]`;
}
