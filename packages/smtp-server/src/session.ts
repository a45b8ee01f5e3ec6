/**
 * One SMTP session on the server side: reads command lines in order and answers each in order,
 * which makes it safe under PIPELINING (RFC 2920) without any extra bookkeeping.
 */
import { randomUUID } from "node:crypto";
import { SaslError, normalizeMechanismName, type AuthIdentity, type MechanismProvider, type MechanismRegistry, type ServerStep } from "@saslkit/core";
import { Deadline, TransportError, decodeBase64, encodeBase64, type LineSocket } from "@saslkit/transport";
import { formatReply, parseCommand, parsePathArgument } from "./commands.js";
import type { Envelope, ReceivedMessage, ServerTranscriptEntry, SmtpServerOptions } from "./options.js";

const DOT = 0x2e;
const CRLF = Buffer.from("\r\n");

/** Settings with every default applied; shared by all sessions of one server. */
export interface SessionSettings {
  readonly options: SmtpServerOptions;
  readonly registry: MechanismRegistry;
  readonly hostname: string;
  readonly localPort: number;
  readonly maxMessageBytes: number;
  readonly maxRecipients: number;
  readonly maxAuthFailures: number;
  readonly maxErrors: number;
  readonly commandTimeoutMs: number;
  readonly dataTimeoutMs: number;
  readonly accept: (message: ReceivedMessage) => Promise<void>;
}

interface Transaction {
  readonly from: string;
  readonly params: Record<string, string | true>;
  readonly rcpts: string[];
}

/** Thrown inside a session to end it after the reply was sent. */
class EndSession extends Error {}

export class SmtpSession {
  #helo: string | undefined;
  #auth: { mechanism: string; identity: AuthIdentity } | undefined;
  #tx: Transaction | undefined;
  #authFailures = 0;
  #errors = 0;

  constructor(
    private readonly io: LineSocket,
    private readonly settings: SessionSettings,
    private readonly id: number,
  ) {}

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

  async #readLine(timeoutMs: number): Promise<string> {
    return this.io.readLine(Deadline.in(timeoutMs));
  }

  get #cleartextAllowed(): boolean {
    return this.io.secure || (this.settings.options.allowCleartextAuth ?? this.io.loopback);
  }

  /** Mechanisms this session may offer now: server half present, cleartext policy met, TLS policy met. */
  #offerable(): MechanismProvider[] {
    if (this.settings.options.requireTls && !this.io.secure) return [];
    return this.settings.registry.list().filter((p) => p.createServer !== undefined && (!p.security.sendsSecretInClear || this.#cleartextAllowed));
  }

  /** Runs the session until QUIT, EOF, a timeout or a fatal error. Never throws. */
  async run(): Promise<void> {
    const { options, hostname } = this.settings;
    try {
      if (options.tls && options.implicitTls) {
        await this.io.acceptTls({ key: options.tls.key, cert: options.tls.cert, ...(options.tls.ca ? { ca: options.tls.ca } : {}), ...(options.tls.requestCert ? { requestCert: true } : {}) }, Deadline.in(this.settings.commandTimeoutMs));
        this.#note("*", "TLS started (implicit)");
      }
      await this.#reply(220, undefined, `${hostname} ESMTP saslkit`);
      for (;;) {
        const line = await this.#readLine(this.settings.commandTimeoutMs);
        const { verb, args } = parseCommand(line);
        this.#note("C", verb === "AUTH" ? maskAuth(args) : line);
        if (!(await this.#dispatch(verb, args))) break;
      }
    } catch (error) {
      await this.#onFatal(error);
    } finally {
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
      if (error.code === "timeout") await say(421, "4.4.2", `${this.settings.hostname} Timeout, closing connection`);
      else if (error.code === "line-too-long") await say(500, "5.5.2", "Line too long");
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
      case "RSET":
        this.#tx = undefined;
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

  async #hello(verb: string, args: string): Promise<void> {
    const name = args.trim();
    if (name === "" || name.includes(" ")) return this.#error(501, "5.5.4", `Syntax: ${verb} hostname`);
    this.#helo = name;
    this.#tx = undefined;
    const { hostname, maxMessageBytes, options } = this.settings;
    if (verb === "HELO") return this.#reply(250, undefined, `${hostname} Hello ${name}`);
    const lines = [`${hostname} Hello ${name}`, "PIPELINING", `SIZE ${maxMessageBytes}`, "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"];
    if (options.tls && !this.io.secure) lines.push("STARTTLS");
    const mechs = this.#offerable().map((p) => p.name);
    if (mechs.length && !this.#auth) lines.push(`AUTH ${mechs.join(" ")}`);
    return this.#reply(250, undefined, lines);
  }

  async #startTls(args: string): Promise<void> {
    const tls = this.settings.options.tls;
    if (args.trim() !== "") return this.#error(501, "5.5.4", "Syntax: STARTTLS");
    if (!tls) return this.#error(502, "5.5.1", "STARTTLS not available");
    if (this.io.secure) return this.#error(503, "5.5.1", "TLS already active");
    await this.#reply(220, "2.0.0", "Ready to start TLS");
    // Whatever the client pipelined after STARTTLS in clear is dropped by the transport (RFC 3207 §4.2).
    await this.io.acceptTls({ key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.requestCert ? { requestCert: true } : {}) }, Deadline.in(this.settings.commandTimeoutMs));
    this.#note("*", "TLS started");
    // RFC 3207 §4.2: forget everything learnt before TLS.
    this.#helo = undefined;
    this.#auth = undefined;
    this.#tx = undefined;
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
    if (!provider?.createServer) return this.#error(504, "5.5.4", "Unrecognized authentication type");
    if (provider.security.sendsSecretInClear && !this.#cleartextAllowed) {
      return this.#error(538, "5.7.11", "Encryption required for requested authentication mechanism");
    }
    let initial: Uint8Array | null = null;
    const ir = parts[1];
    if (ir !== undefined) {
      // RFC 4954 §4: "=" is a zero-length initial response.
      const decoded = ir === "=" ? new Uint8Array(0) : decodeBase64(ir);
      if (!decoded) return this.#error(501, "5.5.2", "Cannot decode initial response");
      initial = decoded;
    }
    const { options, hostname } = this.settings;
    const server = provider.createServer({
      callbacks: options.callbacks,
      channel: this.io.channelInfo(hostname, this.settings.localPort),
      hostname,
      options: options.mechanismOptions ?? {},
    });
    const outcome = await this.#runExchange(provider.name, () => server.start(initial), (r) => server.step(r));
    if (outcome === "cancelled") return;
    if ("identity" in outcome) {
      this.#auth = { mechanism: provider.name, identity: outcome.identity };
      return this.#reply(235, "2.7.0", "Authentication successful");
    }
    await this.#reply(outcome.code, outcome.enhanced, outcome.text);
    if (++this.#authFailures >= this.settings.maxAuthFailures) {
      await this.#reply(421, "4.7.0", `${hostname} Too many authentication failures, closing connection`);
      throw new EndSession();
    }
  }

  /**
   * Drives a server half: `334` challenges out, base64 responses in. Success data is sent as a
   * final `334` (RFC 4954 has no success data on 235), to which the client answers an empty line.
   */
  async #runExchange(
    mechanism: string,
    start: () => Promise<ServerStep> | ServerStep,
    step: (response: Uint8Array) => Promise<ServerStep> | ServerStep,
  ): Promise<{ identity: AuthIdentity } | { code: number; enhanced: string; text: string } | "cancelled"> {
    const fail = (code: number, enhanced: string, text: string) => ({ code, enhanced, text });
    let next: ServerStep;
    try {
      next = await start();
      for (;;) {
        if (next.type === "failure") break;
        const challenge = next.data ?? new Uint8Array(0);
        if (next.type === "success" && challenge.length === 0) return { identity: next.identity };
        await this.io.write(`334 ${encodeBase64(challenge)}\r\n`, { transcript: false, deadline: Deadline.in(this.settings.commandTimeoutMs) });
        this.#note("S", "334 <challenge>");
        const line = await this.#readLine(this.settings.commandTimeoutMs);
        this.#note("C", line === "*" ? "*" : "****");
        if (line === "*") return fail(501, "5.7.0", "Authentication cancelled");
        const response = decodeBase64(line);
        if (!response) return fail(501, "5.5.2", "Cannot decode response");
        if (next.type === "success") {
          if (response.length) return fail(501, "5.5.2", "Expected an empty response to the final challenge");
          return { identity: next.identity };
        }
        next = await step(response);
      }
    } catch (error) {
      if (error instanceof TransportError) throw error;
      if (error instanceof SaslError && error.code === "invalid-response") return fail(501, "5.5.2", `${mechanism} response malformed`);
      this.#note("*", `${mechanism} server half failed: ${error instanceof Error ? error.message : String(error)}`);
      return fail(454, "4.7.0", "Temporary authentication failure");
    }
    switch (next.code) {
      case "authentication-failed":
        return fail(535, "5.7.8", "Authentication credentials invalid");
      case "authorization-failed":
        return fail(535, "5.7.8", "Authentication credentials invalid (authorization identity refused)");
      case "invalid-response":
        return fail(501, "5.5.2", `${mechanism} response malformed`);
      case "temporary-failure":
        return fail(454, "4.7.0", "Temporary authentication failure");
      case "aborted":
        return fail(501, "5.7.0", "Authentication cancelled");
    }
  }

  async #mail(args: string): Promise<void> {
    if (!this.#helo) return this.#error(503, "5.5.1", "Send EHLO first");
    if (this.#tx) return this.#error(503, "5.5.1", "Nested MAIL command");
    if (this.settings.options.requireTls && !this.io.secure) return this.#error(530, "5.7.0", "Must issue a STARTTLS command first");
    if (this.settings.options.requireAuth && !this.#auth) return this.#error(530, "5.7.0", "Authentication required");
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
          if (typeof value !== "string" || !["7BIT", "8BITMIME"].includes(value.toUpperCase())) return this.#error(501, "5.5.4", "Unsupported BODY type");
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
    this.#tx = { from: parsed.address, params: parsed.params, rcpts: [] };
    await this.#reply(250, "2.1.0", "Sender OK");
  }

  async #rcpt(args: string): Promise<void> {
    if (!this.#tx) return this.#error(503, "5.5.1", "Need MAIL command");
    const parsed = parsePathArgument(args, "TO");
    if (typeof parsed === "string") return this.#error(501, "5.5.4", parsed);
    if (parsed.address === "") return this.#error(501, "5.1.3", "Null recipient not allowed");
    if (Object.keys(parsed.params).length) return this.#error(555, "5.5.4", `Unsupported parameter ${Object.keys(parsed.params)[0]}`);
    if (this.#tx.rcpts.length >= this.settings.maxRecipients) return this.#reply(452, "4.5.3", "Too many recipients");
    this.#tx.rcpts.push(parsed.address);
    await this.#reply(250, "2.1.5", "Recipient OK");
  }

  async #data(args: string): Promise<void> {
    if (args.trim() !== "") return this.#error(501, "5.5.4", "Syntax: DATA");
    if (!this.#tx) return this.#error(503, "5.5.1", "Need MAIL command");
    if (this.#tx.rcpts.length === 0) return this.#error(554, "5.5.1", "No valid recipients");
    const tx = this.#tx;
    await this.#reply(354, undefined, "End data with <CR><LF>.<CR><LF>");
    const deadline = Deadline.in(this.settings.dataTimeoutMs);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    for (;;) {
      // Raw bytes, not readLine: a body need not be UTF-8 (8BITMIME, Latin-1), and decoding
      // would replace its bytes. The transcript notes the size below instead of every line.
      const raw = await this.io.readLineBytes(deadline, { transcript: false });
      if (raw.length === 1 && raw[0] === DOT) break;
      // Dot-unstuffing (RFC 5321 §4.5.2).
      const line = raw[0] === DOT ? raw.subarray(1) : raw;
      size += line.length + 2;
      if (size > this.settings.maxMessageBytes) tooBig = true;
      if (!tooBig) chunks.push(line, CRLF);
    }
    this.#note("C", `<message data, ${size} bytes>`);
    this.#note("C", ".");
    this.#tx = undefined;
    if (tooBig) return this.#reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    const envelope: Envelope = {
      mailFrom: tx.from,
      rcptTo: [...tx.rcpts],
      mailParams: { ...tx.params },
      helo: this.#helo ?? "",
      auth: this.#auth,
      secure: this.io.secure,
      remoteAddress: this.io.remoteAddress,
      receivedAt: new Date(),
    };
    const message: ReceivedMessage = { id: randomUUID(), envelope, data: Buffer.concat(chunks) };
    try {
      await this.settings.accept(message);
    } catch (error) {
      this.#note("*", `onMessage failed: ${error instanceof Error ? error.message : String(error)}`);
      return this.#reply(451, "4.3.0", "Message could not be processed, try again later");
    }
    await this.#reply(250, "2.0.0", `OK queued as ${message.id}`);
  }
}

/** `PLAIN AGFsaWNl...` → `PLAIN ****`: never log an initial response. */
function maskAuth(args: string): string {
  const [name, ir] = args.split(" ", 2);
  return `AUTH ${name ?? ""}${ir !== undefined ? " ****" : ""}`;
}
