/**
 * One SMTP session on the server side: reads command lines in order and answers each in order,
 * which makes it safe under PIPELINING (RFC 2920) without any extra bookkeeping.
 */
import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import { normalizeMechanismName, type AuthIdentity, type ChannelInfo, type CleartextPolicy, type MechanismProvider, type MechanismRegistry, type ServerContext } from "@saslkit/core";
import { Deadline, TransportError, decodeBase64, encodeBase64, verifyClientCertificate, type LineSocket } from "@saslkit/transport";
import { EndSession, describeFailure, maskAuth, offerRefusal, runExchange, type OfferContext } from "./auth.js";
import { formatReply, hasControl, parseCommand, parsePathArgument } from "./commands.js";
import { receiveData, type DataDecoder } from "./data.js";
import { MessageSink } from "./message.js";
import type { Envelope, ReceivedMessage, ServerTranscriptEntry, SmtpServerOptions } from "./options.js";
import { InputReader, type CommandBytes } from "./reader.js";

/** Settings with every default applied; shared by all sessions of one server. */
export interface SessionSettings {
  readonly options: SmtpServerOptions;
  readonly registry: MechanismRegistry;
  readonly hostname: string;
  readonly localPort: number;
  readonly requireAuth: boolean;
  readonly cleartext: CleartextPolicy;
  readonly bareNewline: "normalize" | "reject";
  readonly maxMessageBytes: number;
  readonly maxLineBytes: number;
  readonly maxRecipients: number;
  readonly maxAuthFailures: number;
  readonly maxErrors: number;
  readonly maxCommandsBeforeAuth: number;
  readonly authTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly dataTimeoutMs: number;
  /** The store is on: collect each message's bytes. */
  readonly keep: boolean;
  readonly accept: (message: ReceivedMessage) => Promise<void>;
}

interface Transaction {
  readonly from: string;
  readonly params: Record<string, string | true>;
  readonly rcpts: string[];
  /** Set by the first BDAT: the message being received in chunks, and its envelope. */
  sink?: MessageSink;
  envelope?: Envelope;
}

/**
 * RFC 6531 §3.4: a non-ASCII address is allowed only in a transaction whose MAIL FROM carries
 * SMTPUTF8 (which this server always advertises). The reply is Postfix's with
 * `strict_smtputf8 = yes`; Postfix's default accepts such an address (test/postfix-smtp.test.ts).
 */
const NON_ASCII = /[^\x00-\x7f]/;
const NEEDS_SMTPUTF8 = "Must declare SMTPUTF8 to send unicode address";

/**
 * Commands the transcript records verbatim. Anything else is recorded without its text: a line the
 * server did not take as a command is often an AUTH response pipelined behind an AUTH it refused
 * (538, 503, 504), that is, base64 credentials.
 */
const KNOWN_VERBS = new Set(["EHLO", "HELO", "STARTTLS", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "HELP", "QUIT"]);


export class SmtpSession {
  #helo: string | undefined;
  #auth: { mechanism: string; identity: AuthIdentity } | undefined;
  #tx: Transaction | undefined;
  #authFailures = 0;
  #errors = 0;
  #commandsBeforeAuth = 0;
  /** The verified client certificate's name (EXTERNAL), set after the TLS handshake. */
  #clientIdentity: string | undefined;
  readonly #reader: InputReader;
  readonly #authDeadline: Deadline;

  constructor(
    private readonly io: LineSocket,
    private readonly settings: SessionSettings,
    private readonly id: number,
  ) {
    this.#reader = new InputReader(io);
    this.#authDeadline = Deadline.in(settings.authTimeoutMs);
  }

  #note(direction: ServerTranscriptEntry["direction"], text: string): void {
    this.settings.options.transcript?.({ direction, text, connection: this.id });
  }

  async #reply(code: number, enhanced: string | undefined, text: string | readonly string[]): Promise<void> {
    const reply = formatReply(code, enhanced, text);
    for (const line of reply.split("\r\n")) this.#note("S", line);
    await this.io.write(`${reply}\r\n`, { transcript: false, deadline: Deadline.in(this.settings.commandTimeoutMs) });
  }

  /** A 5xx for a client mistake; too many of them end the session. */
  async #error(code: number, enhanced: string, text: string): Promise<void> {
    await this.#reply(code, enhanced, text);
    if (++this.#errors >= this.settings.maxErrors) {
      await this.#reply(421, "4.7.0", `${this.settings.hostname} Too many errors, closing connection`);
      throw new EndSession();
    }
  }

  /** True while the session still has to authenticate before it may send mail. */
  get #preAuth(): boolean {
    return this.settings.requireAuth && !this.#auth;
  }

  /** The deadline for the next command: per line, and before AUTH no later than the session's auth deadline. */
  #commandDeadline(): Deadline {
    const line = Deadline.in(this.settings.commandTimeoutMs);
    return this.#preAuth && this.#authDeadline.at < line.at ? this.#authDeadline : line;
  }

  /** Reads one line (a command or an AUTH response); with `bareNewline: "reject"`, a bare CR or LF ends the session. */
  async #readLine(): Promise<CommandBytes> {
    const read = await this.#reader.line(this.#commandDeadline(), this.settings.maxLineBytes);
    const { bareLf, bareCr } = read;
    if ((bareLf || bareCr) && this.settings.bareNewline === "reject") {
      this.#note("*", `bare ${bareCr ? "<CR>" : "<LF>"} in a command: rejected`);
      await this.#reply(550, "5.5.2", `${this.settings.hostname} Error: bare ${bareCr ? "<CR>" : "<LF>"} received`);
      throw new EndSession();
    }
    return read;
  }

  /** Reads one command line and applies the bare CR / bare LF rules. */
  async #readCommand(): Promise<string> {
    const { line, bareCr } = await this.#readLine();
    if (bareCr) {
      this.#note("C", "<command with a bare CR>");
      await this.#error(500, "5.5.2", "Error: bare <CR> received in a command");
      return this.#readCommand();
    }
    // A line that is not UTF-8 is refused, never decoded with U+FFFD in place of its bytes.
    if (!isUtf8(line)) {
      this.#note("C", "<command that is not valid UTF-8>");
      await this.#error(500, "5.5.2", "Error: bad UTF-8 syntax");
      return this.#readCommand();
    }
    return line.toString("utf8");
  }

  get #channel(): ChannelInfo {
    const { externalIdentity: _transportIdentity, ...base } = this.io.channelInfo(this.settings.hostname, this.settings.localPort);
    // The identity given to EXTERNAL is the one verified here (with the reason kept for the log),
    // by the transport's chain-and-purpose check.
    return { ...base, service: "smtp", ...(this.#clientIdentity !== undefined ? { externalIdentity: this.#clientIdentity } : {}) };
  }

  #offerContext(channel: ChannelInfo): OfferContext {
    const tls = this.settings.options.tls;
    return {
      channel,
      requireTls: this.settings.options.requireTls ?? false,
      cleartext: this.settings.cleartext,
      clientCertificates: tls?.requestCert === true && tls.ca !== undefined,
    };
  }

  /** Mechanisms this session offers now (see auth.ts for the rules), by priority. */
  #offerable(channel = this.#channel): MechanismProvider[] {
    const context = this.#offerContext(channel);
    return this.settings.registry.list().filter((p) => offerRefusal(p, context) === undefined);
  }

  /** Runs the session until QUIT, EOF, a timeout or a fatal error. Never throws. */
  async run(): Promise<void> {
    const { options, hostname } = this.settings;
    try {
      if (options.tls && options.implicitTls) {
        await this.#acceptTls("TLS started (implicit)");
      }
      await this.#reply(220, undefined, `${hostname} ESMTP saslkit`);
      for (;;) {
        const line = await this.#readCommand();
        const { verb, args } = parseCommand(line);
        this.#note("C", verb === "AUTH" ? maskAuth(args) : KNOWN_VERBS.has(verb) ? line : "<unrecognized command>");
        if (this.#preAuth && ++this.#commandsBeforeAuth > this.settings.maxCommandsBeforeAuth && verb !== "QUIT") {
          await this.#reply(421, "4.7.0", `${hostname} Too many commands before authentication, closing connection`);
          break;
        }
        if (!(await this.#dispatch(verb, args))) break;
      }
    } catch (error) {
      await this.#onFatal(error);
    } finally {
      this.#tx?.sink?.abort("the session ended");
      this.#tx = undefined;
      await this.io.close().catch(() => undefined);
    }
  }

  async #onFatal(error: unknown): Promise<void> {
    if (error instanceof EndSession) return;
    const say = async (code: number, enhanced: string, text: string) => {
      try {
        await this.#reply(code, enhanced, text);
      } catch {
        // The peer is gone; nothing more to tell it.
      }
    };
    if (error instanceof TransportError) {
      if (error.code === "timeout") {
        if (this.#preAuth && this.#authDeadline.expired()) await say(421, "4.7.0", `${this.settings.hostname} Authentication not completed in time, closing connection`);
        else await say(421, "4.4.2", `${this.settings.hostname} Timeout, closing connection`);
      } else if (error.code === "line-too-long") await say(500, "5.5.2", "Line too long");
      else this.#note("*", `connection ended: ${error.code}`);
      return;
    }
    this.#note("*", `internal error: ${error instanceof Error ? error.message : String(error)}`);
    await say(421, "4.3.0", `${this.settings.hostname} Internal error, closing connection`);
  }

  /** Handles one command. Returns false when the session should end. */
  async #dispatch(verb: string, args: string): Promise<boolean> {
    switch (verb) {
      case "EHLO":
      case "HELO":
        await this.#hello(verb, args);
        return true;
      case "STARTTLS":
        await this.#startTls(args);
        return true;
      case "AUTH":
        await this.#authenticate(args);
        return true;
      case "MAIL":
        await this.#mail(args);
        return true;
      case "RCPT":
        await this.#rcpt(args);
        return true;
      case "DATA":
        await this.#data(args);
        return true;
      case "BDAT":
        await this.#bdat(args);
        return true;
      case "RSET":
        this.#resetTransaction();
        await this.#reply(250, "2.0.0", "OK");
        return true;
      case "NOOP":
        await this.#reply(250, "2.0.0", "OK");
        return true;
      case "VRFY":
        await this.#reply(252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
        return true;
      case "HELP":
        await this.#reply(214, "2.0.0", "See RFC 5321");
        return true;
      case "QUIT":
        await this.#reply(221, "2.0.0", `${this.settings.hostname} Bye`);
        return false;
      default:
        await this.#error(500, "5.5.2", "Command not recognized");
        return true;
    }
  }

  #resetTransaction(): void {
    this.#tx?.sink?.abort("the transaction was reset");
    this.#tx = undefined;
  }

  async #hello(verb: string, args: string): Promise<void> {
    const name = args.trim();
    if (name === "" || name.includes(" ") || hasControl(name)) return this.#error(501, "5.5.4", `Syntax: ${verb} hostname`);
    this.#helo = name;
    this.#resetTransaction();
    const { hostname, maxMessageBytes, options } = this.settings;
    if (verb === "HELO") return this.#reply(250, undefined, `${hostname} Hello ${name}`);
    const lines = [`${hostname} Hello ${name}`, "PIPELINING", `SIZE ${maxMessageBytes}`, "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME"];
    if (options.tls && !this.io.secure) lines.push("STARTTLS");
    const mechs = this.#offerable().map((p) => p.name);
    if (mechs.length && !this.#auth) lines.push(`AUTH ${mechs.join(" ")}`);
    return this.#reply(250, undefined, lines);
  }

  async #acceptTls(note: string): Promise<void> {
    const tls = this.settings.options.tls!;
    if (this.#reader.hasPending) {
      // Bytes the client sent in clear after STARTTLS would be read as if they came over TLS (CVE-2011-0411).
      this.#note("*", "data pipelined after STARTTLS: closing (possible command injection)");
      throw new EndSession();
    }
    // The handshake is part of the time a session has to authenticate (authTimeoutMs, from connect).
    await this.io.acceptTls({ key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.requestCert ? { requestCert: true } : {}) }, this.#commandDeadline());
    this.#note("*", note);
    this.#clientIdentity = undefined;
    if (tls.requestCert && tls.ca !== undefined && this.io.tlsSocket) {
      const verdict = verifyClientCertificate(this.io.tlsSocket, tls.ca);
      if (verdict && "identity" in verdict) {
        this.#clientIdentity = verdict.identity;
        this.#note("*", `client certificate verified for client authentication: ${verdict.identity}`);
      } else if (verdict) this.#note("*", `client certificate not accepted for EXTERNAL: ${verdict.problem}`);
    }
  }

  async #startTls(args: string): Promise<void> {
    const tls = this.settings.options.tls;
    if (args.trim() !== "") return this.#error(501, "5.5.4", "Syntax: STARTTLS");
    if (!tls) return this.#error(502, "5.5.1", "STARTTLS not available");
    if (this.io.secure) return this.#error(503, "5.5.1", "TLS already active");
    await this.#reply(220, "2.0.0", "Ready to start TLS");
    // Whatever the client pipelined after STARTTLS in clear is refused, here and in the transport (RFC 3207 §4.2).
    await this.#acceptTls("TLS started");
    // RFC 3207 §4.2: forget everything learnt before TLS.
    this.#helo = undefined;
    this.#auth = undefined;
    this.#resetTransaction();
  }

  async #authenticate(args: string): Promise<void> {
    if (!this.#helo) return this.#error(503, "5.5.1", "Send EHLO first");
    if (this.#auth) return this.#error(503, "5.5.1", "Already authenticated");
    if (this.#tx) return this.#error(503, "5.5.1", "AUTH not permitted during a mail transaction");
    if (this.settings.options.requireTls && !this.io.secure) return this.#error(530, "5.7.0", "Must issue a STARTTLS command first");
    const parts = args.split(" ");
    if (parts.length > 2 || parts[0] === "") return this.#error(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
    const name = normalizeMechanismName(parts[0] ?? "");
    const provider = name === undefined ? undefined : this.settings.registry.get(name);
    const channel = this.#channel;
    const context = this.#offerContext(channel);
    const refusal = provider ? offerRefusal(provider, context) : "unavailable";
    if (!provider || refusal === "unavailable" || refusal === "tls-required") {
      if (provider && refusal) this.#note("*", `AUTH ${provider.name} refused: not offered on this session`);
      return this.#error(504, "5.5.4", "Unrecognized authentication type");
    }
    if (refusal === "cleartext") return this.#error(538, "5.7.11", "Encryption required for requested authentication mechanism");
    let initial: Uint8Array | null = null;
    const ir = parts[1];
    if (ir !== undefined) {
      // RFC 4954 §4: "=" is a zero-length initial response.
      const decoded = ir === "=" ? new Uint8Array(0) : decodeBase64(ir);
      if (!decoded) return this.#error(501, "5.5.2", "Cannot decode initial response");
      initial = decoded;
    }
    const { options, hostname } = this.settings;
    // What this session offered: SCRAM reads it to tell a downgrade from a client that simply
    // saw no -PLUS (RFC 5802 §6 "y" flag).
    const advertised = this.settings.registry
      .list()
      .filter((p) => offerRefusal(p, context) === undefined)
      .map((p) => p.name);
    const serverContext: ServerContext = { callbacks: options.callbacks, channel, hostname, options: options.mechanismOptions ?? {}, advertised };
    const server = provider.createServer!(serverContext);
    const outcome = await runExchange(
      {
        challenge: (data) => {
          this.#note("S", "334 <challenge>");
          return this.io.write(`334 ${encodeBase64(data)}\r\n`, { transcript: false, deadline: Deadline.in(this.settings.commandTimeoutMs) });
        },
        response: async () => {
          const line = (await this.#readLine()).line.toString("utf8");
          this.#note("C", line === "*" ? "*" : "****");
          return line;
        },
        deadline: () => this.#commandDeadline(),
      },
      provider.name,
      server,
      initial,
    );
    if ("identity" in outcome) {
      this.#auth = { mechanism: provider.name, identity: outcome.identity };
      this.#note("*", `AUTH ${provider.name} succeeded`);
      return this.#reply(235, "2.7.0", "Authentication successful");
    }
    this.#note("*", `AUTH ${provider.name} failed: ${describeFailure(outcome.kind)}${outcome.reason ? ` (${outcome.reason})` : ""}`);
    await this.#reply(outcome.code, outcome.enhanced, outcome.text);
    if (++this.#authFailures >= this.settings.maxAuthFailures) {
      await this.#reply(421, "4.7.0", `${hostname} Too many authentication failures, closing connection`);
      throw new EndSession();
    }
  }

  async #mail(args: string): Promise<void> {
    if (!this.#helo) return this.#error(503, "5.5.1", "Send EHLO first");
    if (this.#tx) return this.#error(503, "5.5.1", "Nested MAIL command");
    if (this.settings.options.requireTls && !this.io.secure) return this.#error(530, "5.7.0", "Must issue a STARTTLS command first");
    if (this.#preAuth) return this.#error(530, "5.7.0", "Authentication required");
    const parsed = parsePathArgument(args, "FROM");
    if (typeof parsed === "string") return this.#error(501, "5.5.4", parsed);
    for (const [key, value] of Object.entries(parsed.params)) {
      switch (key) {
        case "SIZE": {
          if (typeof value !== "string" || !/^\d{1,15}$/.test(value)) return this.#error(501, "5.5.4", "Malformed SIZE parameter");
          if (Number(value) > this.settings.maxMessageBytes) return this.#error(552, "5.3.4", "Message size exceeds fixed maximum message size");
          break;
        }
        case "BODY":
          if (typeof value !== "string" || !["7BIT", "8BITMIME", "BINARYMIME"].includes(value.toUpperCase())) return this.#error(501, "5.5.4", "Unsupported BODY type");
          break;
        case "SMTPUTF8":
          if (value !== true) return this.#error(501, "5.5.4", "SMTPUTF8 takes no value");
          break;
        case "AUTH":
          break; // RFC 4954 §5: accepted and ignored (we do not relay).
        default:
          return this.#error(555, "5.5.4", `Unsupported parameter ${key}`);
      }
    }
    if (parsed.params.SMTPUTF8 === undefined && NON_ASCII.test(parsed.address)) return this.#error(553, "5.6.7", NEEDS_SMTPUTF8);
    this.#tx = { from: parsed.address, params: parsed.params, rcpts: [] };
    await this.#reply(250, "2.1.0", "Sender OK");
  }

  async #rcpt(args: string): Promise<void> {
    if (!this.#tx) return this.#error(503, "5.5.1", "Need MAIL command");
    if (this.#tx.sink) return this.#error(503, "5.5.1", "RCPT not permitted during BDAT");
    const parsed = parsePathArgument(args, "TO");
    if (typeof parsed === "string") return this.#error(501, "5.5.4", parsed);
    if (parsed.address === "") return this.#error(501, "5.1.3", "Null recipient not allowed");
    if (Object.keys(parsed.params).length) return this.#error(555, "5.5.4", `Unsupported parameter ${Object.keys(parsed.params)[0]}`);
    if (this.#tx.params.SMTPUTF8 === undefined && NON_ASCII.test(parsed.address)) return this.#error(553, "5.6.7", NEEDS_SMTPUTF8);
    if (this.#tx.rcpts.length >= this.settings.maxRecipients) return this.#reply(452, "4.5.3", "Too many recipients");
    this.#tx.rcpts.push(parsed.address);
    await this.#reply(250, "2.1.5", "Recipient OK");
  }

  #envelope(tx: Transaction, transfer: Envelope["transfer"]): Envelope {
    return {
      mailFrom: tx.from,
      rcptTo: [...tx.rcpts],
      mailParams: { ...tx.params },
      helo: this.#helo ?? "",
      auth: this.#auth,
      secure: this.io.secure,
      remoteAddress: this.io.remoteAddress,
      receivedAt: new Date(),
      transfer,
    };
  }

  #openSink(envelope: Envelope): MessageSink {
    const handler = this.settings.options.onData;
    return new MessageSink({
      limit: this.settings.maxMessageBytes,
      keep: this.settings.keep,
      handler: handler ? (stream) => handler(stream, envelope) : undefined,
    });
  }

  /**
   * DATA (RFC 5321 §4.1.1.4): reads chunks, never lines, through the DataDecoder (data.ts), which
   * ends the message only at `<CRLF>.<CRLF>`; memory is the message's bytes whatever its lines.
   */
  async #data(args: string): Promise<void> {
    if (args.trim() !== "") return this.#error(501, "5.5.4", "Syntax: DATA");
    const tx = this.#tx;
    if (!tx) return this.#error(503, "5.5.1", "Need MAIL command");
    if (tx.sink) return this.#error(503, "5.5.1", "DATA not permitted after BDAT");
    if (tx.rcpts.length === 0) return this.#error(554, "5.5.1", "No valid recipients");
    // RFC 3030 §3: a BINARYMIME body cannot be sent with DATA.
    if (String(tx.params.BODY ?? "").toUpperCase() === "BINARYMIME") return this.#error(503, "5.5.1", "BODY=BINARYMIME requires BDAT");
    await this.#reply(354, undefined, "End data with <CR><LF>.<CR><LF>");
    const deadline = Deadline.in(this.settings.dataTimeoutMs);
    const envelope = this.#envelope(tx, "DATA");
    const sink = this.#openSink(envelope);
    const reject = this.settings.bareNewline === "reject";
    let decoder: DataDecoder;
    try {
      decoder = await receiveData(this.#reader, sink, deadline, { maxLineBytes: this.settings.maxLineBytes, stopAtBareNewline: reject });
    } catch (error) {
      sink.abort(error instanceof Error ? error.message : String(error));
      this.#tx = undefined;
      throw error;
    }
    this.#note("C", `<message data, ${sink.size} bytes${decoder.bareNewline ? ", bare CR/LF normalised" : ""}>`);
    this.#note("C", ".");
    this.#tx = undefined;
    if (reject && decoder.bareNewline) {
      this.#note("*", "message refused: bare <CR> or <LF> (bareNewline: reject)");
      await this.#reply(550, "5.5.2", `${this.settings.hostname} Error: bare <CR> or <LF> received in message content`);
      throw new EndSession();
    }
    await this.#complete(sink, envelope, deadline);
  }

  /**
   * BDAT (RFC 3030): `BDAT <size> [LAST]`, then exactly `size` bytes, taken verbatim (no
   * dot-unstuffing, no line rules). The chunk is always consumed, even when refused, so its bytes
   * are never read as commands; a size we cannot parse ends the session for the same reason.
   */
  async #bdat(args: string): Promise<void> {
    const match = /^(\d{1,15})(?: +(LAST))? *$/i.exec(args);
    if (!match) {
      await this.#reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
      throw new EndSession();
    }
    const size = Number(match[1]);
    const last = match[2] !== undefined;
    if (this.#preAuth) {
      // Nothing to keep in step with: an unauthenticated client's chunk is not read at all.
      await this.#reply(530, "5.7.0", "Authentication required");
      throw new EndSession();
    }
    const deadline = Deadline.in(this.settings.dataTimeoutMs);
    const tx = this.#tx;
    let refusal: [number, string, string] | undefined;
    if (!this.#helo) refusal = [503, "5.5.1", "Send EHLO first"];
    else if (!tx) refusal = [503, "5.5.1", "Need MAIL command"];
    else if (tx.rcpts.length === 0) refusal = [554, "5.5.1", "No valid recipients"];
    if (refusal || !tx) {
      await this.#reader.exactly(size, deadline, undefined);
      this.#note("C", `<BDAT chunk, ${size} bytes, discarded>`);
      return this.#error(...(refusal ?? [503, "5.5.1", "Need MAIL command"]));
    }
    if (!tx.sink || !tx.envelope) {
      tx.envelope = this.#envelope(tx, "BDAT");
      tx.sink = this.#openSink(tx.envelope);
    }
    const { sink, envelope } = tx;
    try {
      await this.#reader.exactly(size, deadline, (chunk) => sink.write(chunk, deadline));
    } catch (error) {
      this.#resetTransaction();
      throw error;
    }
    this.#note("C", `<BDAT chunk, ${size} bytes${last ? ", last" : ""}>`);
    if (sink.size > this.settings.maxMessageBytes) {
      this.#resetTransaction();
      return this.#reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    }
    if (!last) return this.#reply(250, "2.0.0", `${size} octets received`);
    this.#tx = undefined;
    await this.#complete(sink, envelope, deadline);
  }

  /** The message is complete: the handler's verdict, the store, then the final reply. */
  async #complete(sink: MessageSink, envelope: Envelope, deadline: Deadline): Promise<void> {
    const outcome = await sink.end(deadline);
    if (outcome.type === "too-large") return this.#reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    if (outcome.type === "handler-failed") {
      const error = outcome.error;
      this.#note("*", `onData failed: ${error instanceof Error ? error.message : String(error)}`);
      return this.#reply(451, "4.3.0", "Message could not be processed, try again later");
    }
    const message: ReceivedMessage = { id: randomUUID(), envelope, data: outcome.data ?? Buffer.alloc(0) };
    await this.settings.accept(message);
    await this.#reply(250, "2.0.0", `OK queued as ${message.id}`);
  }
}
