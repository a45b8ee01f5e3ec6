/**
 * SMTP authentication (RFC 4954): the AUTH loop over core's negotiator and session driver
 * (`authenticateSession`), and its framing, the adapter half of core's `SaslExchange`
 * (`SmtpSaslExchange`). Mechanisms see bytes; this file owns `AUTH <mech> [ir]`,
 * `334 <base64>`, `*`, and the reply-code mapping. Every client line of the exchange is masked
 * in transcripts and remembered as a secret, so a server that echoes it cannot leak it.
 */
import {
  MechanismRegistry,
  NoMechanismError,
  SaslError,
  authenticate,
  planNegotiation,
  type AttemptRecord,
  type FailureCode,
  type MechanismProvider,
  type MechanismSource,
  type Refusal,
  type SaslExchange,
  type ServerEvent,
  type ServerReplyInfo,
} from "@saslkit/core";
import { Redactor, decodeBase64, encodeBase64 } from "@saslkit/transport";
import { SmtpError, transportFailure } from "./errors.js";
import type { SmtpClientOptions } from "./options.js";
import type { CommandPipeline } from "./pipeline.js";
import { replyMessage, type SmtpReply } from "./reply.js";

/** What AUTH negotiation decided, for `saslkit probe` and demo output. */
export interface SmtpNegotiation {
  /** Mechanisms the server offered (after STARTTLS), upper case. */
  readonly offered: readonly string[];
  /** Mechanisms installed, by priority. */
  readonly installed: readonly string[];
  /** Usable mechanisms, best first. */
  readonly candidates: readonly string[];
  /** Mechanisms set aside, with reasons. */
  readonly refused: readonly Refusal[];
  /** Mechanisms tried, with the error of each failed attempt. */
  readonly attempts: readonly AttemptRecord[];
  /** The mechanism that succeeded. */
  readonly chosen: string | undefined;
}

/**
 * Negotiates and runs AUTH on a connection whose server offered `offered`: plan with core's
 * negotiator, then core's session driver over `SmtpSaslExchange` (fallback, attempts and rounds
 * as the options say). Resolves with the negotiation record (`chosen` set); rejects with
 * `SmtpError` (phase "auth"), never sending AUTH to a server that offered no mechanism.
 * `secrets` learns every payload sent, for the transcript and error messages.
 */
export async function authenticateSession(pipeline: CommandPipeline, options: SmtpClientOptions, port: number, offered: readonly string[], secrets: Redactor): Promise<SmtpNegotiation> {
  const credentials = options.auth!;
  const source = registryFor(options.mechanisms);
  const channel = pipeline.line.channelInfo(options.host, port);
  const plan = planNegotiation(source, {
    offered,
    credentials,
    channel,
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.mechanismOptions ? { options: options.mechanismOptions } : {}),
  });
  const record = (attempts: readonly AttemptRecord[], chosen?: string): SmtpNegotiation => ({
    offered: plan.offered,
    installed: plan.installed,
    candidates: plan.candidates.map((p) => p.name),
    refused: plan.refused,
    attempts,
    chosen,
  });
  if (offered.length === 0) {
    // Never send AUTH to a server that did not advertise it (a 503 at best, nodemailer#1081).
    const cause = new NoMechanismError([], MechanismRegistry.from(source).names(), []);
    throw new SmtpError("auth", "no-mechanism", `the server advertised no AUTH mechanisms${pipeline.line.secure ? "" : " (it may offer them only after STARTTLS)"}; nothing was sent.`, { cause });
  }
  const exchange = new SmtpSaslExchange({
    command: (line, mask) => {
      secretsFrom(secrets, line, mask);
      return pipeline.command("auth", line, mask);
    },
  });
  try {
    const result = await authenticate(plan, exchange, {
      ...(options.authFallback !== undefined ? { fallback: options.authFallback } : {}),
      ...(options.maxAuthAttempts !== undefined ? { maxAttempts: options.maxAuthAttempts } : {}),
      ...(options.maxAuthRounds !== undefined ? { maxRounds: options.maxAuthRounds } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return record(result.attempts, result.mechanism);
  } catch (error) {
    if (error instanceof SmtpError) throw error;
    if (!(error instanceof SaslError)) throw transportFailure(error, "auth", exchange.lastCommand);
    const reply = exchange.lastReply && error.reply ? exchange.lastReply : undefined;
    throw new SmtpError("auth", error.code, secrets.scrub(`authentication failed: ${error.message}`), { cause: error, reply, command: exchange.lastCommand });
  }
}

/**
 * The registry of a plain provider list, built once per list (not once per connection) and
 * rebuilt if the list changed since. Containers and registries pass through (a container's
 * registrations may change between connections).
 */
const registries = new WeakMap<readonly MechanismProvider[], { readonly providers: readonly MechanismProvider[]; readonly registry: MechanismRegistry }>();
function registryFor(source: MechanismSource | undefined): MechanismSource | undefined {
  if (!Array.isArray(source)) return source;
  const list = source as readonly MechanismProvider[];
  const cached = registries.get(list);
  if (cached && cached.providers.length === list.length && cached.providers.every((p, i) => p === list[i])) return cached.registry;
  const registry = MechanismRegistry.from(list);
  registries.set(list, { providers: [...list], registry });
  return registry;
}

/** Remembers what an AUTH line carries, so a server echoing it cannot leak it to transcripts or errors. */
function secretsFrom(secrets: Redactor, line: string, mask: string): void {
  if (line === mask) return;
  const payload = line.startsWith("AUTH ") ? line.split(" ")[2] : line;
  if (payload) secrets.add(payload);
}

/** RFC 4954 §4: the AUTH command line, CRLF included, may not exceed 512 octets with an initial response. */
export const MAX_AUTH_LINE = 512;

/** What the exchange needs from the client: send a line, read the next reply. */
export interface SmtpCommandChannel {
  /** Writes `line` + CRLF, showing `mask` in the transcript instead, and reads the reply. */
  command(line: string, mask: string): Promise<SmtpReply>;
}

/** Maps the final reply of an exchange to core's failure code (RFC 4954 §6). */
export function authFailureCode(code: number, cancelled: boolean): FailureCode {
  switch (code) {
    case 535:
      return "authentication-failed";
    case 534:
    case 504:
      return "mechanism-rejected";
    case 538:
    case 530:
      return "encryption-required";
    case 454:
      return "temporary-failure";
    case 501:
      return cancelled ? "aborted" : "protocol-error";
    default:
      return "protocol-error";
  }
}

export function replyInfo(reply: SmtpReply): ServerReplyInfo {
  return { status: String(reply.code), ...(reply.enhanced ? { enhanced: reply.enhanced } : {}), text: replyMessage(reply) };
}

/**
 * One SMTP AUTH exchange. `payloads` collects every base64 string sent, so callers can scrub a
 * server that echoes them back from transcripts and error messages.
 */
export class SmtpSaslExchange implements SaslExchange {
  #deferred: string | undefined;
  #cancelled = false;
  /** The last command line sent, masked (`AUTH PLAIN ****`, `****`, `*`). */
  lastCommand: string | undefined;
  /** The last reply received. */
  lastReply: SmtpReply | undefined;
  /** Every base64 payload this exchange sent (secrets: never print them). */
  readonly payloads: string[] = [];
  readonly #redactor = new Redactor();

  constructor(private readonly channel: SmtpCommandChannel) {}

  async begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    this.#deferred = undefined;
    this.#cancelled = false;
    let line = `AUTH ${mechanism}`;
    let mask = line;
    if (initialResponse !== null) {
      // A zero-length initial response is "=" (RFC 4954 §4).
      const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
      if (ir !== "=") this.#remember(ir);
      if (line.length + 1 + ir.length + 2 <= MAX_AUTH_LINE) {
        line = `${line} ${ir}`;
        mask = `${mask} ****`;
      } else {
        // Too long for the command line: send it as the answer to the server's empty 334.
        this.#deferred = ir === "=" ? "" : ir;
      }
    }
    const reply = await this.#send(line, mask);
    if (this.#deferred !== undefined && reply.code === 334) {
      const deferred = this.#deferred;
      this.#deferred = undefined;
      if (reply.text.trim() !== "") return { type: "malformed", reason: "the server sent a non-empty challenge where the initial response was due" };
      return this.#event(await this.#send(deferred, "****"));
    }
    return this.#event(reply);
  }

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const text = encodeBase64(response);
    if (text) this.#remember(text);
    return this.#event(await this.#send(text, "****"));
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    const reply = await this.#send("*", "*");
    // RFC 4954: the server answers a cancel with 501; any answer ends the exchange.
    return { type: "failure", code: "aborted", reply: replyInfo(reply) };
  }

  async #send(line: string, mask: string): Promise<SmtpReply> {
    this.lastCommand = mask;
    const reply = this.scrub(await this.channel.command(line, mask));
    this.lastReply = reply;
    return reply;
  }

  #remember(payload: string): void {
    this.payloads.push(payload);
    this.#redactor.add(payload);
  }

  /** The reply with every payload this exchange sent replaced by `****` (a server may echo it). */
  scrub(reply: SmtpReply): SmtpReply {
    const hide = (text: string) => this.#redactor.scrub(text);
    const text = hide(reply.text);
    if (text === reply.text) return reply;
    return { ...reply, text, lines: reply.lines.map(hide) };
  }

  #event(reply: SmtpReply): ServerEvent {
    if (reply.code === 334) {
      if (reply.lines.length > 1) return { type: "malformed", reason: "a 334 challenge spanned several lines" };
      // "334", "334 " and "334 <base64>": an empty text is an empty challenge.
      const data = decodeBase64(reply.text.trim());
      return data === undefined ? { type: "malformed", reason: "the challenge is not valid base64" } : { type: "challenge", data };
    }
    if (reply.code === 235) return { type: "success", data: null, reply: replyInfo(reply) };
    return { type: "failure", code: authFailureCode(reply.code, this.#cancelled), reply: replyInfo(reply) };
  }
}
