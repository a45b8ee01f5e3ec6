/**
 * The SMTP client (RFC 5321) with STARTTLS (RFC 3207), SASL AUTH (RFC 4954), PIPELINING
 * (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531).
 *
 * Life cycle: `SmtpClient.connect(options)` connects, reads the greeting, says EHLO (HELO when
 * EHLO is refused), upgrades with STARTTLS when offered (and re-EHLOs, discarding everything
 * learnt in clear), authenticates when `auth` is given; then any number of `send` calls, which
 * may overlap: they are queued and, when the server offers PIPELINING, the next message's
 * MAIL/RCPT/DATA go out right after the previous message's end-of-data dot, so a reused connection
 * costs one round trip per message. `quit()` ends politely, `close()` at once.
 *
 * Every wait is bounded by an absolute deadline; every failure is an `SmtpError`.
 */
import { hostname } from "node:os";
import { isIPv6 } from "node:net";
import {
  MechanismRegistry,
  NoMechanismError,
  SaslError,
  authenticate,
  planNegotiation,
  type AttemptRecord,
  type ChannelInfo,
  type CredentialsInput,
  type MechanismSource,
  type NegotiationPolicy,
  type Refusal,
} from "@saslkit/core";
import { Deadline, LineSocket, Redactor, TransportError, type TlsSettings, type TranscriptEntry, type TranscriptSink } from "@saslkit/transport";
import { SmtpSaslExchange } from "./auth.js";
import { DotEncoder } from "./data.js";
import { SmtpError, type SmtpPhase } from "./errors.js";
import { addressProblem, needsSmtpUtf8, prepareMessage, type Envelope, type Message, type PreparedMessage, type SendOptions } from "./message.js";
import { MalformedReplyError, ReplyParser, formatReply, parseCapabilities, type SmtpCapabilities, type SmtpReply } from "./reply.js";

/** Time limits in milliseconds; each is an absolute deadline for its phase, not an idle timer. */
export interface SmtpTimeouts {
  /** TCP connect, plus the handshake for implicit TLS. Default 15000. */
  readonly connect?: number;
  /** The server's greeting. Default 30000. */
  readonly greeting?: number;
  /** Each command's reply (EHLO, STARTTLS and its handshake, AUTH rounds, MAIL, RCPT, DATA, QUIT). Default 60000. */
  readonly command?: number;
  /** Sending one message body and receiving its final reply. Default 600000 (RFC 5321 §4.5.3.2). */
  readonly data?: number;
}

export interface SmtpClientOptions {
  readonly host: string;
  /** Default 465 with `tls: "implicit"`, else 587. */
  readonly port?: number;
  /**
   * - `"implicit"`: TLS from the first byte (port 465);
   * - `"starttls"`: STARTTLS, required (fails closed when missing or refused);
   * - `"none"`: never TLS;
   * - absent: STARTTLS whenever offered, plaintext otherwise (unless `requireTls`).
   */
  readonly tls?: "implicit" | "starttls" | "none";
  /** Fail closed unless the connection is TLS before EHLO-after-TLS, AUTH and mail. Default: true for "implicit"/"starttls", false otherwise. */
  readonly requireTls?: boolean;
  /** Certificate checks: CA, client certificate, servername. Verification is on unless `rejectUnauthorized: false`. */
  readonly tlsOptions?: TlsSettings;
  /** The name sent with EHLO/HELO. Default: this host's name if it is fully qualified, else an address literal. */
  readonly ehloName?: string;
  /** Credentials: authenticate during connect when given. */
  readonly auth?: CredentialsInput;
  /** Where mechanisms come from: providers, a tsyringe container or a registry. Default: tsyringe's root container. */
  readonly mechanisms?: MechanismSource;
  /** Negotiation policy (force, order, exclude, cleartext), handed to core's negotiator. */
  readonly policy?: NegotiationPolicy;
  /** Per-mechanism options handed to mechanism factories (`{ scram: {...} }`). */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /** Fallback to the next mechanism after a mechanism-level failure (core's policy). Default true. */
  readonly authFallback?: boolean;
  /** Most mechanisms tried. Default 3. */
  readonly maxAuthAttempts?: number;
  /** Most 334 challenges in one exchange. Default 10. */
  readonly maxAuthRounds?: number;
  /**
   * How PIPELINING (RFC 2920) is used when the server offers it (without it, always "off"):
   * - `"full"`: MAIL, RCPT and DATA go out as one group, and the next message's group follows the
   *   previous message's final dot without waiting for its reply: one round trip per message;
   * - `"transaction"`: MAIL, RCPT and DATA as one group, but the next message waits for the
   *   previous message's final reply: two round trips per message;
   * - `"off"`: lock-step, every command waits for its reply.
   *
   * Default `"full"`, except `"transaction"` for servers with a known quirk: Dovecot submission
   * (identified by its greeting or EHLO reply) crashes on cross-message pipelining (see README).
   * An explicit value always wins. `true` means the default and `false` means `"off"`.
   */
  readonly pipelining?: PipeliningMode | boolean;
  readonly timeouts?: SmtpTimeouts;
  /** Longest reply line accepted. Default 65536 bytes. */
  readonly maxLineBytes?: number;
  /** Receives every line (AUTH client lines masked, always). See `printTranscript`. */
  readonly transcript?: TranscriptSink;
  /** Aborts the connection and everything pending. */
  readonly signal?: AbortSignal;
}

/** How PIPELINING is used; see `SmtpClientOptions.pipelining`. */
export type PipeliningMode = "full" | "transaction" | "off";

/** A refused recipient and the server's reply. */
export interface RejectedRecipient {
  readonly address: string;
  readonly reply: SmtpReply;
}

export interface SendResult {
  readonly envelope: Envelope;
  /** Recipients the server accepted (the message went to these). */
  readonly accepted: readonly string[];
  /** Recipients refused at RCPT time. */
  readonly rejected: readonly RejectedRecipient[];
  /** The final reply after the message data. */
  readonly reply: SmtpReply;
  /** The queue id parsed from the final reply (Postfix `queued as X`, Exim `id=X`, ...), when recognised. */
  readonly queueId: string | undefined;
  /** Message octets sent after dot-stuffing and CRLF normalisation. */
  readonly bytes: number;
}

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

const DEFAULTS = { connect: 15000, greeting: 30000, command: 60000, data: 600000 };

const QUEUE_ID = [/queued as ([A-Za-z0-9._-]+)/i, /\bid=([A-Za-z0-9._-]+)/, /InternalId=(\d+)/];

/** Extracts a queue id from a final DATA reply, or undefined. */
export function parseQueueId(reply: SmtpReply): string | undefined {
  for (const re of QUEUE_ID) {
    const m = re.exec(reply.text);
    if (m) return m[1];
  }
  return undefined;
}

function defaultEhloName(local: string | undefined): string {
  const name = hostname();
  if (/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/.test(name)) return name;
  if (!local) return "[127.0.0.1]";
  const addr = local.startsWith("::ffff:") ? local.slice(7) : local;
  return isIPv6(addr) ? `[IPv6:${addr}]` : `[${addr}]`;
}

const is2xx = (reply: SmtpReply) => reply.code >= 200 && reply.code < 300;

/**
 * Dovecot 2.3 submission panics when the next message's MAIL/RCPT/DATA arrive before the previous
 * message's final reply ("smtp_server_transaction_finished: assertion failed:
 * (conn->state.pending_rcpt_cmds == 0)"), after relaying the first message. Its default greeting
 * is "<host> Dovecot (<distro>) ready.".
 */
const DOVECOT = /\bDovecot\b/i;

const END_OF_DATA = Buffer.from(".\r\n");
const noop = (): void => undefined;
const callFinal = (final: () => Promise<SendResult>): Promise<SendResult> => final();

/**
 * The error for a message whose final reply never came: a connection that closed or timed out
 * after the final dot leaves the outcome unknown (RFC 1047), so it gets its own code. Other
 * failures (an unreadable reply) keep theirs.
 */
function unknownOutcome(error: unknown, envelope: Envelope): unknown {
  if (!(error instanceof SmtpError) || (error.code !== "closed" && error.code !== "timeout")) {
    if (error instanceof SmtpError) error.envelope ??= envelope;
    return error;
  }
  const what = error.code === "closed" ? "the connection closed" : "the server did not answer in time";
  const rcpt = envelope.to.length === 1 ? `<${envelope.to[0]}>` : `<${envelope.to[0]}> and ${envelope.to.length - 1} more`;
  const failure = new SmtpError(
    "data",
    "outcome-unknown",
    `${what} after the message's final dot and before the server's reply, so the server may have accepted the message from <${envelope.from}> to ${rcpt}; check before resending it, or it may be delivered twice (RFC 1047).`,
    { cause: error, command: "." },
  );
  failure.envelope = envelope;
  return failure;
}
/** A streamed body yields to the event loop after this many bytes (keeps stalls far below 20 ms). */
const YIELD_BYTES = 256 * 1024;
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An SMTP client connection. Create with `SmtpClient.connect`. */
export class SmtpClient {
  readonly #line: LineSocket;
  readonly #options: SmtpClientOptions;
  readonly #timeouts: Required<SmtpTimeouts>;
  readonly #secrets: Redactor;
  #capabilities: SmtpCapabilities;
  #negotiation: SmtpNegotiation | undefined;
  #authenticatedWith: string | undefined;
  #replyTail: Promise<unknown> = Promise.resolve();
  /** Replies queued and not yet settled; 0 lets the next read start at once. */
  #replyPending = 0;
  #writeTail: Promise<unknown> = Promise.resolve();
  #broken: SmtpError | undefined;
  #closing = false;
  /** QUIT already went out pipelined after a final dot (`sendAndQuit`). */
  #quitWritten = false;
  /** Server quirks recognised from the greeting and EHLO (see `quirks`). */
  readonly #quirks: string[] = [];
  /** The greeting reply (220). */
  readonly greeting: SmtpReply;

  private constructor(line: LineSocket, options: SmtpClientOptions, timeouts: Required<SmtpTimeouts>, secrets: Redactor, greeting: SmtpReply) {
    this.#line = line;
    this.#options = options;
    this.#timeouts = timeouts;
    this.#secrets = secrets;
    this.greeting = greeting;
    this.#capabilities = parseCapabilities({ code: 250, lines: [], text: "" }, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Public state.
  // ---------------------------------------------------------------------------------------------

  /** The server's capabilities from the latest EHLO (after STARTTLS, only what was said over TLS). */
  get capabilities(): SmtpCapabilities {
    return this.#capabilities;
  }

  /** The AUTH negotiation, when `auth` was given. */
  get negotiation(): SmtpNegotiation | undefined {
    return this.#negotiation;
  }

  /** The SASL mechanism that authenticated this connection, if any. */
  get authenticatedWith(): string | undefined {
    return this.#authenticatedWith;
  }

  /** True when the connection is TLS. */
  get secure(): boolean {
    return this.#line.secure;
  }

  /**
   * The core `ChannelInfo` of the current connection: TLS or not, loopback or not, and on TLS the
   * channel-binding types this connection can produce (tls-exporter on TLS 1.3,
   * tls-server-end-point when the certificate's hash is known, tls-unique on TLS 1.2). After
   * STARTTLS it describes the upgraded channel.
   */
  get channel(): ChannelInfo {
    return this.#line.channelInfo(this.#options.host, this.#options.port);
  }

  /** The PIPELINING mode in effect on this connection (after quirks and the server's EHLO). */
  get pipelining(): PipeliningMode {
    if (!this.#capabilities.pipelining) return "off";
    const asked = this.#options.pipelining;
    if (asked === false) return "off";
    if (asked === undefined || asked === true) return this.#quirks.includes("dovecot-submission") ? "transaction" : "full";
    return asked;
  }

  /**
   * Server quirks recognised on this connection, each changing a default:
   * `"dovecot-submission"` (greeting or EHLO names Dovecot) makes the default pipelining
   * `"transaction"`.
   */
  get quirks(): readonly string[] {
    return this.#quirks;
  }

  /** True once the connection is closed or unusable. */
  get closed(): boolean {
    return this.#closing || this.#broken !== undefined || this.#line.closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Connect.
  // ---------------------------------------------------------------------------------------------

  /** Connects, greets, upgrades to TLS, authenticates. Rejects with `SmtpError`; the connection is closed then. */
  static async connect(options: SmtpClientOptions): Promise<SmtpClient> {
    const mode = options.tls;
    const requireTls = options.requireTls ?? (mode === "implicit" || mode === "starttls");
    if (mode === "none" && requireTls) throw new SmtpError("connect", "invalid-input", 'requireTls cannot be combined with tls: "none".');
    const timeouts = { ...DEFAULTS, ...options.timeouts };
    const port = options.port ?? (mode === "implicit" ? 465 : 587);
    const secrets = new Redactor();
    const sink = options.transcript;
    const transcript: TranscriptSink | undefined = sink
      ? (entry: TranscriptEntry) => {
          const text = secrets.scrub(entry.text);
          sink(text === entry.text ? entry : { direction: entry.direction, text });
        }
      : undefined;

    let line: LineSocket;
    try {
      line = await LineSocket.connect({
        host: options.host,
        port,
        tls: mode === "implicit" ? (options.tlsOptions ?? {}) : false,
        connectTimeoutMs: timeouts.connect,
        ...(options.maxLineBytes !== undefined ? { maxLineBytes: options.maxLineBytes } : {}),
        ...(transcript ? { transcript } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw SmtpClient.#transportFailure(error, "connect", undefined);
    }

    let client: SmtpClient | undefined;
    try {
      const greeting = await SmtpClient.#readReplyOn(line, Deadline.in(timeouts.greeting), "greeting", undefined);
      if (greeting.code !== 220) throw SmtpError.fromReply("greeting", "the server refused the connection", greeting);
      client = new SmtpClient(line, { ...options, port }, timeouts, secrets, greeting);
      await client.#hello();
      if (mode !== "none" && !line.secure) {
        if (client.#capabilities.startTls) await client.#startTls(requireTls);
        else if (requireTls) throw new SmtpError("tls", "tls-required", "the server does not offer STARTTLS and TLS is required; nothing was sent in clear beyond EHLO.");
      }
      if (requireTls && !line.secure) throw new SmtpError("tls", "tls-required", "the connection is not TLS and TLS is required.");
      if (options.auth) await client.#authenticate(options.auth);
      return client;
    } catch (error) {
      const failure = error instanceof SmtpError ? error : SmtpClient.#transportFailure(error, "greeting", undefined);
      if (client && !client.closed && failure.phase === "auth") await client.quit().catch(() => undefined);
      else line.destroy();
      throw failure;
    }
  }

  async #hello(): Promise<void> {
    const name = this.#options.ehloName ?? defaultEhloName(this.#line.localAddress);
    if (/[\s\r\n]/.test(name) || name === "") throw new SmtpError("ehlo", "invalid-input", "the EHLO name must be one word without white space.");
    const ehlo = await this.#command("ehlo", `EHLO ${name}`);
    if (ehlo.code === 250) {
      this.#capabilities = parseCapabilities(ehlo);
      if (!this.#quirks.includes("dovecot-submission") && (DOVECOT.test(this.greeting.text) || DOVECOT.test(ehlo.text))) this.#quirks.push("dovecot-submission");
      return;
    }
    if (ehlo.code >= 500) {
      // RFC 5321 §3.2: an old server refuses EHLO; HELO gets a session without extensions.
      const helo = await this.#command("ehlo", `HELO ${name}`);
      if (helo.code === 250) {
        this.#capabilities = parseCapabilities(helo, true);
        return;
      }
      throw SmtpError.fromReply("ehlo", "the server refused both EHLO and HELO", helo, `HELO ${name}`);
    }
    throw SmtpError.fromReply("ehlo", "the server refused EHLO", ehlo, `EHLO ${name}`);
  }

  async #startTls(required: boolean): Promise<void> {
    const reply = await this.#command("tls", "STARTTLS");
    if (reply.code !== 220) {
      if (required) throw new SmtpError("tls", "tls-required", `the server refused STARTTLS (${formatReply(reply)}) and TLS is required.`, { reply, command: "STARTTLS" });
      return; // opportunistic: continue in clear, as asked
    }
    try {
      await this.#line.startTls(this.#options.tlsOptions ?? {}, Deadline.in(this.#timeouts.command));
    } catch (error) {
      throw SmtpClient.#transportFailure(error, "tls", "STARTTLS");
    }
    // RFC 3207 §4.2: forget everything learnt before TLS; it may have been forged.
    this.#capabilities = parseCapabilities({ code: 250, lines: [], text: "" }, true);
    await this.#hello();
  }

  async #authenticate(credentials: CredentialsInput): Promise<void> {
    const offered = this.#capabilities.auth;
    const source = this.#options.mechanisms;
    const channel = this.#line.channelInfo(this.#options.host, this.#options.port);
    const plan = planNegotiation(source, {
      offered,
      credentials,
      channel,
      ...(this.#options.policy ? { policy: this.#options.policy } : {}),
      ...(this.#options.mechanismOptions ? { options: this.#options.mechanismOptions } : {}),
    });
    const record = (attempts: readonly AttemptRecord[], chosen?: string) => {
      this.#negotiation = {
        offered: plan.offered,
        installed: plan.installed,
        candidates: plan.candidates.map((p) => p.name),
        refused: plan.refused,
        attempts,
        chosen,
      };
    };
    record([]);
    if (offered.length === 0) {
      // Never send AUTH to a server that did not advertise it (a 503 at best, nodemailer#1081).
      const cause = new NoMechanismError([], MechanismRegistry.from(source).names(), []);
      throw new SmtpError("auth", "no-mechanism", `the server advertised no AUTH mechanisms${this.#line.secure ? "" : " (it may offer them only after STARTTLS)"}; nothing was sent.`, { cause });
    }
    const exchange = new SmtpSaslExchange({
      command: async (line, mask) => {
        this.#secretsFrom(line, mask);
        return this.#command("auth", line, mask);
      },
    });
    try {
      const result = await authenticate(plan, exchange, {
        ...(this.#options.authFallback !== undefined ? { fallback: this.#options.authFallback } : {}),
        ...(this.#options.maxAuthAttempts !== undefined ? { maxAttempts: this.#options.maxAuthAttempts } : {}),
        ...(this.#options.maxAuthRounds !== undefined ? { maxRounds: this.#options.maxAuthRounds } : {}),
        ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      });
      this.#authenticatedWith = result.mechanism;
      record(result.attempts, result.mechanism);
    } catch (error) {
      if (error instanceof SmtpError) throw error;
      if (!(error instanceof SaslError)) throw SmtpClient.#transportFailure(error, "auth", exchange.lastCommand);
      record(error.attempts);
      const reply = exchange.lastReply && error.reply ? exchange.lastReply : undefined;
      throw new SmtpError("auth", error.code, this.#scrub(`authentication failed: ${error.message}`), { cause: error, reply, command: exchange.lastCommand });
    }
  }

  /** Remembers what an AUTH line carries, so a server echoing it cannot leak it to transcripts or errors. */
  #secretsFrom(line: string, mask: string): void {
    if (line === mask) return;
    const payload = line.startsWith("AUTH ") ? line.split(" ")[2] : line;
    if (payload) this.#secrets.add(payload);
  }

  #scrub(text: string): string {
    return this.#secrets.scrub(text);
  }

  // ---------------------------------------------------------------------------------------------
  // Commands and replies.
  // ---------------------------------------------------------------------------------------------

  static #readReplyOn(line: LineSocket, deadline: Deadline, phase: SmtpPhase, command: string | undefined): Promise<SmtpReply> {
    try {
      const r = SmtpClient.#replyNow(line, deadline, phase, command);
      return r instanceof Promise ? r : Promise.resolve(r);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * One reply: parsed synchronously from lines already buffered when it is complete there (a
   * pipelined burst costs no promise per line), else finished asynchronously. Throws (or
   * rejects with) an SmtpError.
   */
  static #replyNow(line: LineSocket, deadline: Deadline, phase: SmtpPhase, command: string | undefined): SmtpReply | Promise<SmtpReply> {
    const parser = new ReplyParser();
    try {
      for (let text = line.readLineNow(); text !== undefined; text = line.readLineNow()) {
        const reply = parser.push(text);
        if (reply) return reply;
      }
    } catch (error) {
      throw SmtpClient.#readFailure(line, error, phase, command);
    }
    return SmtpClient.#replyLater(line, parser, deadline, phase, command);
  }

  static async #replyLater(line: LineSocket, parser: ReplyParser, deadline: Deadline, phase: SmtpPhase, command: string | undefined): Promise<SmtpReply> {
    try {
      for (;;) {
        let reply = parser.push(await line.readLine(deadline));
        if (reply) return reply;
        // The rest of a multi-line reply usually came in the same packet: no promise per line.
        for (let text = line.readLineNow(); text !== undefined; text = line.readLineNow()) {
          reply = parser.push(text);
          if (reply) return reply;
        }
      }
    } catch (error) {
      throw SmtpClient.#readFailure(line, error, phase, command);
    }
  }

  static #readFailure(line: LineSocket, error: unknown, phase: SmtpPhase, command: string | undefined): SmtpError {
    if (error instanceof MalformedReplyError) {
      line.destroy();
      return new SmtpError(phase, "malformed-reply", error.message, { command });
    }
    return SmtpClient.#transportFailure(error, phase, command);
  }

  static #transportFailure(error: unknown, phase: SmtpPhase, command: string | undefined): SmtpError {
    if (error instanceof SmtpError) return error;
    if (error instanceof TransportError) {
      const p: SmtpPhase = error.code === "tls-failed" || error.code === "tls-injection" ? "tls" : phase;
      const what =
        error.code === "timeout"
          ? `the server did not answer in time${command ? ` after ${command}` : ""} (${error.message})`
          : error.code === "closed"
            ? `the connection closed${command ? ` after ${command}` : ""} (${error.message})`
            : error.message;
      return new SmtpError(p, error.code, `${what.replace(/\.$/, "")}.`, { cause: error, command });
    }
    return new SmtpError(phase, "closed", `unexpected failure: ${(error as Error)?.message ?? String(error)}.`, { cause: error, command });
  }

  /** Queues a reply read after all earlier ones; the deadline starts now. */
  #expect(phase: SmtpPhase, command: string, timeoutMs = this.#timeouts.command): Promise<SmtpReply> {
    const deadline = Deadline.in(timeoutMs);
    if (this.#replyPending === 0) {
      // Nothing queued: a reply already buffered needs no place in the queue.
      const r = this.#readReply(deadline, phase, command);
      if (!(r instanceof Promise)) return Promise.resolve(r);
      this.#replyPending++;
      this.#replyTail = r.then(this.#replyDone, this.#replyDone);
      return r;
    }
    const read = () => this.#readReply(deadline, phase, command);
    const p = this.#replyTail.then(read, read);
    this.#replyPending++;
    const settled = p.then(this.#replyDone, this.#replyDone);
    this.#replyTail = settled;
    return p;
  }

  /** The replies to a pipelined MAIL, RCPT per recipient, DATA group, as one queued read (one deadline, one wait chain). */
  #expectGroup(mailCommand: string, to: readonly string[]): Promise<SmtpReply[]> {
    const deadline = Deadline.in(this.#timeouts.command);
    const n = to.length + 2;
    const what = (i: number): [SmtpPhase, string] => (i === 0 ? ["mail", mailCommand] : i === n - 1 ? ["data", "DATA"] : ["rcpt", `RCPT TO:<${to[i - 1]}>`]);
    const rest = async (replies: SmtpReply[], first: Promise<SmtpReply>): Promise<SmtpReply[]> => {
      replies.push(await first);
      for (let i = replies.length; i < n; i++) replies.push(await this.#readReply(deadline, ...what(i)));
      return replies;
    };
    // Usually the whole group's replies arrived in one read: parse them without a promise each.
    const read = (): Promise<SmtpReply[]> => {
      const replies: SmtpReply[] = [];
      for (let i = 0; i < n; i++) {
        const r = this.#readReply(deadline, ...what(i));
        if (r instanceof Promise) return rest(replies, r);
        replies.push(r);
      }
      return Promise.resolve(replies);
    };
    const p = this.#replyPending ? this.#replyTail.then(read, read) : read();
    this.#replyPending++;
    this.#replyTail = p.then(this.#replyDone, this.#replyDone);
    return p;
  }

  readonly #replyDone = (): void => {
    this.#replyPending--;
  };

  /** A reply, synchronously when it is already buffered; failures come back as a rejected promise. */
  #readReply(deadline: Deadline, phase: SmtpPhase, command: string): SmtpReply | Promise<SmtpReply> {
    if (this.#broken) return Promise.reject(this.#broken);
    try {
      const r = SmtpClient.#replyNow(this.#line, deadline, phase, command);
      return r instanceof Promise ? r.catch(this.#breakOn) : r;
    } catch (error) {
      return Promise.reject(this.#broke(error));
    }
  }

  /** A reply stream that failed cannot be resynchronised: the connection is done. */
  #broke(error: unknown): SmtpError {
    const failure = error as SmtpError;
    this.#broken ??= failure;
    this.#line.destroy();
    return failure;
  }

  readonly #breakOn = (error: unknown): never => {
    throw this.#broke(error);
  };

  #write(phase: SmtpPhase, data: string | Uint8Array, command: string | undefined, options: { mask?: string; transcript?: boolean; deadline?: Deadline } = {}): Promise<void> {
    if (this.#broken) return Promise.reject(this.#broken);
    return this.#line.write(data, options).catch((error: unknown) => {
      const failure = SmtpClient.#transportFailure(error, phase, command);
      this.#broken ??= failure;
      throw failure;
    });
  }

  /** Sends one command line and reads its reply. `mask` replaces it in the transcript and errors. */
  async #command(phase: SmtpPhase, line: string, mask: string = line): Promise<SmtpReply> {
    await this.#write(phase, `${line}\r\n`, mask, { mask, deadline: Deadline.in(this.#timeouts.command) });
    return this.#expect(phase, mask);
  }

  /** Runs `fn` after every earlier queued operation has finished writing. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#writeTail.then(fn, fn);
    this.#writeTail = run.catch(() => undefined);
    return run;
  }

  // ---------------------------------------------------------------------------------------------
  // Sending.
  // ---------------------------------------------------------------------------------------------

  /**
   * Sends one message. Calls may overlap: they are queued on this connection in call order and,
   * with PIPELINING, written without waiting for the previous message's final reply. Resolves
   * with the accepted and refused recipients and the final reply; rejects with `SmtpError`
   * (`no-recipients` when every recipient was refused, after an RSET; `outcome-unknown` when the
   * connection dropped or timed out between the final dot and the reply: the message may have
   * been accepted, so do not resend it blindly).
   */
  send(message: Message, envelope?: Envelope, options?: SendOptions): Promise<SendResult> {
    return this.#submit(message, envelope, false, options);
  }

  /**
   * Sends one message and ends the session: with PIPELINING, QUIT goes out with the message's
   * final dot (RFC 2920 lets QUIT end a group), saving a round trip; the connection is closed
   * afterwards either way. Resolves like `send`; on failure the connection is closed and the
   * error is the message's. `sendMail` uses it.
   */
  async sendAndQuit(message: Message, envelope?: Envelope): Promise<SendResult> {
    let result: SendResult;
    try {
      result = await this.#submit(message, envelope, true);
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.#quitWritten) {
      await this.#replyTail; // the 221 (or its failure, which changes nothing now)
      await this.#line.close();
    } else await this.#exclusive(() => this.#quitNow());
    return result;
  }

  #submit(message: Message, envelope: Envelope | undefined, quitAfter: boolean, options?: SendOptions): Promise<SendResult> {
    if (this.#closing) return Promise.reject(new SmtpError("mail", "client-closed", "the client is closed."));
    if (this.#broken) return Promise.reject(this.#broken);
    let prepared: PreparedMessage;
    let mailCommand: string;
    try {
      prepared = prepareMessage(message, envelope);
      if (prepared.size === undefined && options?.size !== undefined) {
        if (!Number.isSafeInteger(options.size) || options.size < 0) throw new TypeError(`options.size must be a whole number of octets, not ${String(options.size)}.`);
        prepared = { ...prepared, size: options.size };
      }
      mailCommand = this.#mailCommand(prepared);
    } catch (error) {
      if (error instanceof SmtpError) return Promise.reject(error);
      return Promise.reject(new SmtpError("mail", "invalid-input", `the message could not be prepared: ${(error as Error).message}`, { cause: error }));
    }
    if (quitAfter) this.#closing = true; // no send may queue behind the QUIT
    const run = (): Promise<() => Promise<SendResult>> => this.#transaction(prepared, mailCommand, quitAfter);
    const written = this.#writeTail.then(run, run);
    this.#writeTail = written.then(noop, noop);
    return written.then(callFinal);
  }

  /** Checks the envelope against the server's extensions and builds the MAIL command. */
  #mailCommand(prepared: PreparedMessage): string {
    const env = prepared.envelope;
    if (env.to.length === 0) throw new SmtpError("rcpt", "invalid-input", "the envelope has no recipients.");
    let utf8 = false;
    for (let i = -1; i < env.to.length; i++) {
      const address = i < 0 ? env.from : env.to[i]!;
      const problem = addressProblem(address);
      if (problem) throw new SmtpError(i < 0 ? "mail" : "rcpt", "invalid-input", `the address "${address.replace(/[\r\n]/g, " ")}" ${problem}.`);
      if (!utf8 && needsSmtpUtf8(address)) utf8 = true;
    }
    const caps = this.#capabilities;
    if (utf8 && !caps.smtpUtf8) throw new SmtpError("mail", "smtputf8-required", "an address is not ASCII and the server does not offer SMTPUTF8.");
    if (prepared.size !== undefined && caps.size && prepared.size > caps.size) {
      throw new SmtpError("mail", "message-too-large", `the message is ${prepared.size} octets and the server accepts at most ${caps.size}.`);
    }
    let params = "";
    if (prepared.size !== undefined && caps.size !== undefined) params += ` SIZE=${prepared.size}`;
    if (caps.eightBitMime && (prepared.eightBit !== false || utf8)) params += " BODY=8BITMIME";
    if (utf8) params += " SMTPUTF8";
    return `MAIL FROM:<${env.from}>${params}`;
  }

  /**
   * The write half of a transaction; resolves, once the next transaction may be written, with a
   * function awaiting the final reply. In "full" pipelining that is right after the final dot.
   */
  async #transaction(prepared: PreparedMessage, mailCommand: string, quitAfter: boolean): Promise<() => Promise<SendResult>> {
    if (this.#broken) throw this.#broken;
    const env = prepared.envelope;
    const to = env.to;
    const mode = this.pipelining;
    const accepted: string[] = [];
    const rejected: RejectedRecipient[] = [];
    let mailReply: SmtpReply;
    let dataReply: SmtpReply | undefined;

    if (mode !== "off") {
      // RFC 2920: MAIL, every RCPT and DATA in one write; replies come back in order.
      let group = `${mailCommand}\r\n`;
      for (const a of to) group += `RCPT TO:<${a}>\r\n`;
      group += "DATA\r\n";
      await this.#write("mail", group, mailCommand);
      const values = await this.#expectGroup(mailCommand, to);
      mailReply = values[0]!;
      for (let i = 0; i < to.length; i++) {
        const reply = values[i + 1]!;
        if (is2xx(reply)) accepted.push(to[i]!);
        else rejected.push({ address: to[i]!, reply });
      }
      dataReply = values[values.length - 1]!;
    } else {
      mailReply = await this.#command("mail", mailCommand);
      if (is2xx(mailReply)) {
        for (const address of to) {
          const reply = await this.#command("rcpt", `RCPT TO:<${address}>`);
          if (is2xx(reply)) accepted.push(address);
          else rejected.push({ address, reply });
        }
        if (accepted.length) dataReply = await this.#command("data", "DATA");
      }
    }

    let failure: SmtpError | undefined;
    if (!is2xx(mailReply)) failure = SmtpError.fromReply("mail", "the server refused the sender", mailReply, mailCommand);
    else if (!accepted.length) {
      const first = rejected[0]!;
      failure = new SmtpError("rcpt", "no-recipients", `the server refused every recipient (first: ${formatReply(first.reply)}).`, { reply: first.reply, command: `RCPT TO:<${first.address}>` });
    } else if (dataReply && dataReply.code !== 354) failure = SmtpError.fromReply("data", "the server refused DATA", dataReply, "DATA");
    if (failure) {
      failure.rejected = rejected;
      failure.envelope = env;
      if (dataReply?.code === 354) {
        // A server that said 354 anyway gets an empty message, which the RSET below discards.
        await this.#write("data", ".\r\n", ".");
        await this.#expect("data", ".").catch(() => undefined);
      }
      await this.#command("mail", "RSET").catch(() => undefined);
      throw failure;
    }

    const bytes = await this.#sendBody(prepared);
    const finalReply = this.#expect("data", ".", this.#timeouts.data);
    if (quitAfter && mode !== "off") {
      // Same tick as the final dot, so it leaves in the same write (LineSocket coalesces).
      this.#quitWritten = true;
      this.#write("quit", "QUIT\r\n", "QUIT").catch(noop);
      this.#expect("quit", "QUIT").catch(noop);
    }
    const finish = (): Promise<SendResult> =>
      finalReply.then(
        (reply) => {
          if (reply.code !== 250) throw Object.assign(SmtpError.fromReply("data", "the server refused the message", reply, "."), { rejected, envelope: env });
          return { envelope: env, accepted, rejected, reply, queueId: parseQueueId(reply), bytes };
        },
        (error: unknown) => {
          throw unknownOutcome(error, env);
        },
      );
    if (mode === "full") return finish; // the next transaction may be written now
    const result = finish();
    await result.then(noop, noop);
    return () => result;
  }

  async #sendBody(prepared: PreparedMessage): Promise<number> {
    const deadline = Deadline.in(this.#timeouts.data);
    const stuffer = new DotEncoder();
    if (prepared.bytes) {
      // In memory: encode at once and write body and final dot as one buffer (no stream hops).
      const body = stuffer.encodeWithEnd(prepared.bytes);
      const size = body.length - END_OF_DATA.length;
      this.#options.transcript?.({ direction: "*", text: `message body: ${size} octets` });
      await this.#write("data", body, "DATA", { transcript: false, deadline });
      this.#options.transcript?.({ direction: "C", text: "." });
      return size;
    }
    let size = 0;
    let sinceYield = 0;
    try {
      for await (const chunk of prepared.body) {
        const input = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
        const out = stuffer.encode(input);
        if (out.length === 0) continue;
        size += out.length;
        sinceYield += out.length;
        await this.#write("data", out, "DATA", { transcript: false, deadline });
        // A source that produces synchronously into a socket whose kernel buffer keeps
        // accepting would never return to the event loop: yield every YIELD_BYTES.
        if (sinceYield >= YIELD_BYTES) {
          sinceYield = 0;
          await yieldToEventLoop();
        }
      }
    } catch (error) {
      if (error instanceof SmtpError) throw error;
      // The message could not be read: a "." now would deliver a truncated message. Close instead.
      const failure = new SmtpError("data", "invalid-input", `reading the message failed (${(error as Error)?.message ?? String(error)}); the connection was closed so that no partial message is delivered.`, { cause: error });
      this.#broken ??= failure;
      this.#line.destroy();
      throw failure;
    }
    const tail = stuffer.finish();
    size += tail.length;
    this.#options.transcript?.({ direction: "*", text: `message body: ${size} octets` });
    await this.#write("data", tail.length ? Buffer.concat([tail, END_OF_DATA]) : END_OF_DATA, ".", { mask: "." });
    return size;
  }

  /** RSET: abandons any transaction state on the server. */
  async reset(): Promise<SmtpReply> {
    return this.#exclusive(async () => {
      const reply = await this.#command("mail", "RSET");
      if (reply.code !== 250) throw SmtpError.fromReply("mail", "the server refused RSET", reply, "RSET");
      return reply;
    });
  }

  /** NOOP: checks the connection is alive. */
  async noop(): Promise<SmtpReply> {
    return this.#exclusive(() => this.#command("mail", "NOOP"));
  }

  /** Waits for queued sends, sends QUIT, and closes. Never throws for a server that already hung up. */
  async quit(): Promise<void> {
    if (this.#closing) return;
    await this.#exclusive(() => this.#quitNow());
  }

  async #quitNow(): Promise<void> {
    await this.#replyTail;
    this.#closing = true;
    if (!this.#broken && !this.#line.closed) {
      try {
        await this.#command("quit", "QUIT");
      } catch {
        // The server may close before or instead of answering 221.
      }
    }
    await this.#line.close();
  }

  /** Closes the connection at once, without QUIT. Queued sends fail. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#broken ??= new SmtpError("quit", "client-closed", "the client was closed.");
    this.#line.destroy(new TransportError("closed", "The client was closed."));
  }
}

/**
 * One message over a fresh connection: connect (and authenticate), send, QUIT. With PIPELINING
 * the QUIT travels with the message's final dot (`SmtpClient.sendAndQuit`).
 */
export async function sendMail(options: SmtpClientOptions, message: Message, envelope?: Envelope): Promise<SendResult> {
  const client = await SmtpClient.connect(options);
  return client.sendAndQuit(message, envelope);
}

/**
 * A transcript sink that prints `>> ` for client lines, `<< ` for server lines and `** ` for
 * local notes. AUTH client lines arrive already masked.
 */
export function printTranscript(write: (text: string) => void = (text) => process.stderr.write(text)): TranscriptSink {
  return (entry) => write(`${entry.direction === "C" ? ">>" : entry.direction === "S" ? "<<" : "**"} ${entry.text}\n`);
}
