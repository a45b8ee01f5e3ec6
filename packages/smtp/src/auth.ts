/**
 * SMTP authentication (RFC 4954): the AUTH loop over core's negotiator and session driver
 * (`authenticateSession`), and its framing, the adapter half of core's `SaslExchange`
 * (`SmtpSaslExchange`). Mechanisms see bytes; this file owns `AUTH <mech> [ir]`,
 * `334 <base64>`, `*`, and the reply-code mapping. Every client line of the exchange is masked
 * in transcripts, and every payload and credential secret goes to the connection's redactor
 * (`socket.redactor`), so a server that echoes one cannot leak it.
 */
import {
  Credentials,
  MechanismRegistry,
  NoMechanismError,
  SaslError,
  authenticate,
  negotiationRecord,
  planNegotiation,
  type AttemptRecord,
  type AuthenticateOptions,
  type FailureCode,
  type MechanismProvider,
  type MechanismSource,
  type Negotiation,
  type NegotiationInput,
  type NegotiationRecord,
  type SaslExchange,
  type ServerEvent,
  type ServerReplyInfo,
} from "@saslkit/core";
import { decodeBase64, encodeBase64 } from "@saslkit/transport";
import { SmtpError, transportFailure, withNegotiation } from "./errors.js";
import type { SmtpClientOptions } from "./options.js";
import type { CommandPipeline } from "./pipeline.js";
import { replyMessage, type SmtpReply } from "./reply.js";
import { channelOf } from "./setup.js";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** RFC 4954 §4: the AUTH command line, CRLF included, may not exceed 512 octets with an initial response. */
export const MAX_AUTH_LINE = 512;

/**
 * Whether `AUTH <mechanism> <initial response>` fits the 512-octet line; core's session driver
 * sends a response that does not as the answer to the server's empty 334 (RFC 4954 §4).
 */
export function initialResponseFits(mechanism: string, response: Uint8Array): boolean {
  const encoded = response.length === 0 ? 1 : 4 * Math.ceil(response.length / 3); // "=" for an empty one
  return "AUTH ".length + mechanism.length + 1 + encoded + 2 <= MAX_AUTH_LINE;
}

/**
 * Negotiates and runs AUTH on a connection whose server offered `offered`: plan with core's
 * negotiator, then core's session driver over `SmtpSaslExchange` (fallback, attempts and rounds
 * as the options say, the 512-octet AUTH line through `initialResponseFits`). Resolves with the
 * negotiation record (`chosen` set); rejects with `SmtpError` (phase "authenticate", carrying the
 * record in `negotiation`), never sending AUTH to a server that offered no usable mechanism.
 * Every secret of the credentials, and every payload sent, goes to the connection's redactor.
 * A plan that cannot start (`no-mechanism`, a provider list the registry refuses) throws
 * synchronously instead of rejecting: the one caller awaits this inside its own try, where a
 * throw and a rejection end the same way, so no try/catch here runs on every AUTH to convert it.
 */
export function authenticateSession(pipeline: CommandPipeline, options: SmtpClientOptions, port: number, offered: readonly string[]): Promise<NegotiationRecord> {
  // Not an async function: the session's hot path is one promise chain, and the frame of an
  // async function holding the failure paths below was the largest allocation of an AUTH.
  const plan = planFor(pipeline, options, port, offered);
  const exchange = new SmtpSaslExchange(new PipelineChannel(pipeline));
  return authenticate(plan, exchange, limitsOf(options)).then(
    (result) => negotiationRecord(plan, result.attempts, result.mechanism),
    (error: unknown) => {
      throw authFailure(error, plan, exchange, pipeline.redact);
    },
  );
}

/**
 * The plan: every credential secret registered with the connection's redactor first, then core's
 * negotiator. Throws `SmtpError` `no-mechanism` when nothing is usable: AUTH is never sent then.
 */
function planFor(pipeline: CommandPipeline, options: SmtpClientOptions, port: number, offered: readonly string[]): Negotiation {
  const line = pipeline.line;
  const redactor = line.redactor;
  const credentials = Credentials.from(options.auth);
  credentials.onSecret((secret) => redactor.addSecret(secret));
  const input: Mutable<NegotiationInput> = { offered, credentials, channel: channelOf(line, options, port) };
  if (options.policy) input.policy = options.policy;
  if (options.mechanismOptions) input.options = options.mechanismOptions;
  if (options.prepare) input.prepare = options.prepare;
  const plan = planNegotiation(registryFor(options.mechanisms), input);
  // Never send AUTH to a server that did not advertise a usable mechanism (a 503 at best, nodemailer#1081).
  if (plan.candidates.length === 0) throw noMechanism(pipeline, plan, offered);
  return plan;
}

/** The `no-mechanism` failure of a plan without candidates: core's `NoMechanismError` as its cause. */
function noMechanism(pipeline: CommandPipeline, plan: Negotiation, offered: readonly string[]): SmtpError {
  const cause = new NoMechanismError(plan.offered, plan.installed, plan.refused);
  const where = offered.length === 0 ? `the server advertised no AUTH mechanisms${pipeline.line.secure ? "" : " (it may offer them only after STARTTLS)"}` : cause.message.replace(/\.$/, "");
  return new SmtpError("authenticate", "no-mechanism", `${where}; nothing was sent.`, { cause, negotiation: negotiationRecord(plan), redact: pipeline.redact });
}

/** The limits of options that set none (the usual case): one frozen object, not one per connection. */
const DEFAULT_LIMITS: AuthenticateOptions = Object.freeze({ initialResponseFits });

/** Core's session limits from the client options (only those given). */
function limitsOf(options: SmtpClientOptions): AuthenticateOptions {
  if (options.fallback === undefined && options.maxAttempts === undefined && options.maxRounds === undefined && !options.signal) return DEFAULT_LIMITS;
  const limits: Mutable<AuthenticateOptions> = { initialResponseFits };
  if (options.fallback !== undefined) limits.fallback = options.fallback;
  if (options.maxAttempts !== undefined) limits.maxAttempts = options.maxAttempts;
  if (options.maxRounds !== undefined) limits.maxRounds = options.maxRounds;
  if (options.signal) limits.signal = options.signal;
  return limits;
}

/** The `SmtpError` of a failed exchange, carrying the negotiation record. */
function authFailure(error: unknown, plan: Negotiation, exchange: SmtpSaslExchange, redact: (text: string) => string): SmtpError {
  if (!(error instanceof SaslError)) {
    // The connection failed under the exchange (closed, timed out, unreadable): core's driver
    // saw no SaslError, so the record comes from what the exchange saw.
    const failure = transportFailure(error, "authenticate", exchange.lastCommand, redact);
    return withNegotiation(failure, negotiationRecord(plan, exchange.attemptsEndingIn(failure.code)));
  }
  const reply = exchange.lastReply && error.reply ? exchange.lastReply : undefined;
  return new SmtpError("authenticate", error.code, `authentication failed: ${error.message}`, {
    cause: error,
    reply,
    command: exchange.lastCommand,
    ...(error.mechanism ? { mechanism: error.mechanism } : {}),
    negotiation: negotiationRecord(plan, error.attempts),
    redact,
  });
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
  if (cached && sameProviders(cached.providers, list)) return cached.registry;
  const registry = MechanismRegistry.from(list);
  registries.set(list, { providers: [...list], registry });
  return registry;
}

function sameProviders(a: readonly MechanismProvider[], b: readonly MechanismProvider[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** What the exchange needs from the client. */
export interface SmtpCommandChannel {
  /** Writes `line` + CRLF, showing `mask` in the transcript instead, and reads the reply. */
  command(line: string, mask: string): Promise<SmtpReply>;
  /** Learns a base64 payload about to be sent (the connection's redactor). */
  payload?(base64: string): void;
  /** Masks the connection's secrets in server text. */
  redact?(text: string): string;
}

/** The exchange's channel on a connection's pipeline (a class: no closures per connection). */
class PipelineChannel implements SmtpCommandChannel {
  readonly redact: (text: string) => string;

  constructor(private readonly pipeline: CommandPipeline) {
    this.redact = pipeline.redact;
  }

  command(line: string, mask: string): Promise<SmtpReply> {
    return this.pipeline.command("authenticate", line, mask);
  }

  payload(base64: string): void {
    this.pipeline.line.redactor.addPayload(base64);
  }
}

/** Maps the final reply of an exchange to core's failure code (RFC 4954 §6). */
export function authFailureCode(code: number, cancelled: boolean): FailureCode {
  switch (code) {
    case 535:
      return "authentication-failed";
    case 534:
      // "Authentication mechanism is too weak": core falls back only to a stronger-or-equal one.
      return "mechanism-too-weak";
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
 * One SMTP AUTH exchange: `AUTH <mechanism> [initial response]`, `334` challenges, `*` to
 * cancel. The driver decides whether an initial response goes on the AUTH line
 * (`initialResponseFits`); a `null` one is never sent, an empty one is `=`. Every payload is
 * handed to the connection's redactor before it is written, and every reply is redacted before
 * anything (a challenge, an error) is built from it.
 */
export class SmtpSaslExchange implements SaslExchange {
  #cancelled = false;
  /** The last command line sent, masked (`AUTH PLAIN ****`, `****`, `*`). */
  lastCommand: string | undefined;
  /** The last reply received, unredacted: read it through `lastReply`. */
  #reply: SmtpReply | undefined;
  /** `#reply` redacted, once someone asked. */
  #shown: SmtpReply | undefined;
  /** Mechanisms begun and how each ended, for the negotiation record of a failure outside core's driver. */
  readonly #attempts: AttemptRecord[] = [];

  constructor(private readonly channel: SmtpCommandChannel) {}

  begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent> {
    // Not async: one `then` on the command's promise is the whole cost of the exchange's step.
    try {
      this.#cancelled = false;
      this.#attempts.push({ mechanism });
      let line: string;
      let mask: string;
      if (initialResponse === null) {
        line = mask = `AUTH ${mechanism}`;
      } else {
        // A zero-length initial response is "=" (RFC 4954 §4).
        const ir = initialResponse.length ? encodeBase64(initialResponse) : "=";
        if (ir !== "=") this.channel.payload?.(ir);
        line = `AUTH ${mechanism} ${ir}`;
        mask = `AUTH ${mechanism} ****`;
      }
      this.lastCommand = mask;
      return this.channel.command(line, mask).then(this.#answer);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The event of a reply to the AUTH line or a response. */
  readonly #answer = (reply: SmtpReply): ServerEvent => this.#event(this.#received(reply));

  async respond(response: Uint8Array): Promise<ServerEvent> {
    const text = encodeBase64(response);
    if (text) this.channel.payload?.(text);
    return this.#event(await this.#send(text, "****"));
  }

  async cancel(): Promise<ServerEvent> {
    this.#cancelled = true;
    await this.#send("*", "*");
    // RFC 4954: the server answers a cancel with 501; any answer ends the exchange.
    return { type: "failure", code: "aborted", reply: replyInfo(this.lastReply as SmtpReply) };
  }

  /**
   * The last reply received, redacted. Redaction waits until the reply is shown (an error, a
   * challenge): a 235 that ends a successful exchange is never redacted, so the secrets' encoded
   * forms are never derived (see the transport's Redactor). Secrets learnt meanwhile only mask more.
   */
  get lastReply(): SmtpReply | undefined {
    if (this.#reply === undefined) return undefined;
    return (this.#shown ??= this.scrub(this.#reply));
  }

  /** The attempts so far, the last one (if still open) failed with the connection's `code`. */
  attemptsEndingIn(code: string): AttemptRecord[] {
    const attempts = [...this.#attempts];
    const last = attempts[attempts.length - 1];
    if (last && !last.error) {
      attempts[attempts.length - 1] = { mechanism: last.mechanism, error: new SaslError(last.mechanism, "protocol-error", `the connection failed during the exchange (${code}).`) };
    }
    return attempts;
  }

  async #send(line: string, mask: string): Promise<SmtpReply> {
    this.lastCommand = mask;
    return this.#received(await this.channel.command(line, mask));
  }

  #received(reply: SmtpReply): SmtpReply {
    this.#reply = reply;
    this.#shown = undefined;
    return reply;
  }

  /** The reply with every secret the connection knows replaced by `****` (a server may echo them). */
  scrub(reply: SmtpReply): SmtpReply {
    const redact = this.channel.redact;
    if (!redact) return reply;
    const text = redact(reply.text);
    const lines = reply.lines.map(redact);
    if (text === reply.text && lines.every((l, i) => l === reply.lines[i])) return reply;
    return { ...reply, text, lines };
  }

  #event(received: SmtpReply): ServerEvent {
    // The reply is shaped (and redacted) only if read: by a mechanism that refuses the success.
    if (received.code === 235) return new SuccessEvent(this);
    const reply = this.lastReply as SmtpReply;
    if (reply.code === 334) {
      if (reply.lines.length > 1) return { type: "malformed", reason: "a 334 challenge spanned several lines" };
      // "334", "334 " and "334 <base64>": an empty text is an empty challenge.
      const data = decodeBase64(reply.text.trim());
      return data === undefined ? { type: "malformed", reason: "the challenge is not valid base64" } : { type: "challenge", data };
    }
    const failure: ServerEvent = { type: "failure", code: authFailureCode(reply.code, this.#cancelled), reply: replyInfo(reply) };
    const last = this.#attempts[this.#attempts.length - 1];
    if (last) this.#attempts[this.#attempts.length - 1] = { mechanism: last.mechanism, error: new SaslError(last.mechanism, failure.code, `the server refused (${reply.code}).`) };
    return failure;
  }
}

/** A 235: core's success event, whose `reply` is built from the exchange's (redacted) last reply when read. */
class SuccessEvent {
  readonly type = "success";
  readonly data = null;
  #info: ServerReplyInfo | undefined;

  constructor(private readonly exchange: SmtpSaslExchange) {}

  get reply(): ServerReplyInfo {
    return (this.#info ??= replyInfo(this.exchange.lastReply as SmtpReply));
  }
}
