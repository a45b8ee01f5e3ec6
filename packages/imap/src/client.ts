/**
 * The IMAP client: connect, secure the channel, authenticate with the negotiated mechanism, then
 * hand back a connection with a small command API.
 */
import {
  Credentials,
  NoMechanismError,
  SaslError,
  allowsFallback,
  authenticate as runAuthentication,
  PASSWORD,
  USERNAME,
  planNegotiation,
  type ChannelInfo,
  type CredentialsInput,
  type MechanismSource,
  type NegotiationPolicy,
} from "@saslkit/core";
import { Deadline, LineSocket, type TlsSettings, type TranscriptSink } from "@saslkit/transport";
import { ImapSaslExchange } from "./auth.js";
import { ImapCapabilities } from "./capabilities.js";
import { ImapError, type ImapPhase } from "./errors.js";
import { encodeLoginArgument } from "./login.js";
import type { TaggedResponse, UntaggedResponse } from "./parser.js";
import { ImapWire, replyOf, toImapError } from "./wire.js";

/** Time limits in milliseconds; each is an absolute deadline for its whole step. */
export interface ImapTimeouts {
  /** TCP connect plus implicit-TLS handshake. Default 15000. */
  readonly connect?: number;
  /** Waiting for the greeting. Default 15000. */
  readonly greeting?: number;
  /** STARTTLS command and handshake. Default 15000. */
  readonly tls?: number;
  /** The whole authentication, all attempts together. Default 30000. */
  readonly auth?: number;
  /** Each command of the command API (and CAPABILITY). Default 30000. */
  readonly command?: number;
}

/**
 * How to connect and authenticate.
 *
 * Security defaults: `tls: "starttls"` with `requireTls` true (fail closed when STARTTLS is missing,
 * refused, or the server greets with PREAUTH on cleartext); capabilities read before TLS are
 * discarded; mechanisms revealing a secret are refused on cleartext per `policy.cleartext`
 * (core's default: loopback only). The LOGIN command obeys the same cleartext rule.
 */
export interface ImapConnectOptions {
  readonly host: string;
  /** Default 993 for implicit TLS, else 143. */
  readonly port?: number;
  /** `implicit` (IMAPS, 993), `starttls` (default) or `none`. */
  readonly tls?: "implicit" | "starttls" | "none";
  /** Fail unless the channel ends up TLS-protected. Default: true unless `tls` is `none`. */
  readonly requireTls?: boolean;
  /** CA, client certificate (EXTERNAL), servername, verification. */
  readonly tlsOptions?: TlsSettings;
  /** Credentials; when absent, `connect` stops after the capabilities (call `authenticate` later). */
  readonly auth?: CredentialsInput;
  /** Installed mechanisms: a registry, a tsyringe container or a list of providers. Default: the root container. */
  readonly mechanisms?: MechanismSource;
  /** force / order / exclude / cleartext. */
  readonly policy?: NegotiationPolicy;
  /** Per-mechanism options handed to factories (`{ scram: {...}, oauth: {...} }`). */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /**
   * The IMAP LOGIN command: `never`; `fallback` (default) when no SASL mechanism fits or the
   * chosen one failed at the mechanism level, never after the credentials were refused and never
   * with `policy.force`/`policy.order`; `only` to use LOGIN instead of AUTHENTICATE. Never sent
   * when the server advertises LOGINDISABLED, nor in cleartext when the policy forbids it.
   */
  readonly login?: "never" | "fallback" | "only";
  readonly timeouts?: ImapTimeouts;
  /** Longest response line accepted, in bytes. Default 65536. */
  readonly maxLineBytes?: number;
  /** Largest literal accepted in a response. Default 16 MiB. */
  readonly maxLiteralBytes?: number;
  /** Most challenges in one exchange (a server looping on `+`). Default 10. */
  readonly maxRounds?: number;
  /** Most SASL mechanisms tried. Default 3. */
  readonly maxAttempts?: number;
  /** Receives every line; client lines of AUTHENTICATE and LOGIN are masked. */
  readonly transcript?: TranscriptSink;
  readonly signal?: AbortSignal;
}

/** The tagged completion and the untagged responses of one command. */
export interface ImapCommandResult {
  readonly tagged: TaggedResponse;
  readonly untagged: readonly UntaggedResponse[];
}

const DEFAULTS = { connect: 15000, greeting: 15000, tls: 15000, auth: 30000, command: 30000 } as const;

/** Entry point: `ImapClient.connect(options)`. */
export const ImapClient = {
  /** Connects, secures, authenticates (when `auth` is given). Rejects with `ImapError`. */
  async connect(options: ImapConnectOptions): Promise<ImapConnection> {
    const tlsMode = options.tls ?? "starttls";
    const port = options.port ?? (tlsMode === "implicit" ? 993 : 143);
    let socket: LineSocket;
    try {
      socket = await LineSocket.connect({
        host: options.host,
        port,
        tls: tlsMode === "implicit" ? (options.tlsOptions ?? {}) : false,
        connectTimeoutMs: options.timeouts?.connect ?? DEFAULTS.connect,
        ...(options.maxLineBytes !== undefined ? { maxLineBytes: options.maxLineBytes } : {}),
        ...(options.transcript ? { transcript: options.transcript } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw toImapError(error, "connect");
    }
    const connection = new ImapConnection(socket, options, port);
    try {
      await connection.open(tlsMode);
      if (options.auth !== undefined && !connection.authenticated) await connection.authenticate(options.auth);
      return connection;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  },
};

/** An open IMAP connection. Commands run one at a time, in call order. */
export class ImapConnection {
  readonly #wire: ImapWire;
  readonly #options: ImapConnectOptions;
  readonly #port: number;
  #capabilities = new ImapCapabilities([]);
  #authenticated = false;
  #mechanism: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /** @internal use `ImapClient.connect`. */
  constructor(socket: LineSocket, options: ImapConnectOptions, port: number) {
    this.#wire = new ImapWire(socket, options.maxLiteralBytes ?? 16 * 1024 * 1024);
    this.#options = options;
    this.#port = port;
  }

  /** The server's current capabilities (after TLS and after authentication, re-read). */
  get capabilities(): ImapCapabilities {
    return this.#capabilities;
  }
  get authenticated(): boolean {
    return this.#authenticated;
  }
  /** The SASL mechanism that authenticated, `LOGIN-COMMAND` for the LOGIN command, `PREAUTH`. */
  get mechanism(): string | undefined {
    return this.#mechanism;
  }
  get secure(): boolean {
    return this.#wire.socket.secure;
  }
  /**
   * What is known about the channel now: TLS or not, loopback peer, host and port, and the
   * channel-binding types this connection can supply (what SCRAM-*-PLUS would bind to).
   */
  get channel(): ChannelInfo {
    return this.#wire.socket.channelInfo(this.#options.host, this.#port);
  }
  get closed(): boolean {
    return this.#wire.socket.closed;
  }

  #timeout(kind: keyof ImapTimeouts): number {
    return this.#options.timeouts?.[kind] ?? DEFAULTS[kind];
  }

  /** @internal greeting, capabilities, STARTTLS. */
  async open(tlsMode: "implicit" | "starttls" | "none"): Promise<void> {
    const requireTls = this.#options.requireTls ?? tlsMode !== "none";
    const greeting = await this.#wire.read(Deadline.in(this.#timeout("greeting")), "greeting");
    if (greeting.kind !== "untagged" || !["OK", "PREAUTH", "BYE"].includes(greeting.type)) {
      throw new ImapError("protocol-error", "greeting", "the server's greeting is not OK, PREAUTH or BYE.", {
        ...(greeting.kind !== "continuation" ? { reply: replyOf(greeting) } : {}),
      });
    }
    if (greeting.type === "BYE") throw new ImapError("server-bye", "greeting", `the server refused the connection: ${greeting.text ?? ""}`.trimEnd(), { reply: replyOf(greeting) });
    if (greeting.type === "PREAUTH") {
      // PREAUTH leaves no chance for STARTTLS: on cleartext with TLS required this is the known downgrade.
      if (requireTls && !this.secure) {
        throw new ImapError("tls-unavailable", "greeting", "the server greeted with PREAUTH on a cleartext connection, so STARTTLS is impossible and TLS is required.", {
          reply: replyOf(greeting),
        });
      }
      this.#authenticated = true;
      this.#mechanism = "PREAUTH";
    }
    if (greeting.code?.name === "CAPABILITY") this.#capabilities = ImapCapabilities.parse(greeting.code.args);
    else await this.refreshCapabilities("capability");

    if (tlsMode === "starttls" && !this.#authenticated) {
      if (!this.#capabilities.startTls) {
        if (requireTls) throw new ImapError("tls-unavailable", "starttls", "the server does not offer STARTTLS and TLS is required.");
        return;
      }
      const deadline = Deadline.in(this.#timeout("tls"));
      const tag = this.#wire.nextTag();
      await this.#wire.send(tag, "STARTTLS", "starttls");
      const done = await this.#collect(tag, deadline, "starttls");
      if (done.tagged.status !== "OK") {
        if (!requireTls) return;
        throw new ImapError("command-failed", "starttls", `the server refused STARTTLS: ${done.tagged.status} ${done.tagged.text}`.trimEnd() + ".", {
          command: `${tag} STARTTLS`,
          reply: replyOf(done.tagged),
        });
      }
      try {
        await this.#wire.socket.startTls({ ...(this.#options.tlsOptions ?? {}) }, deadline);
      } catch (error) {
        throw this.#wire.wrap(error, "starttls");
      }
      // Everything learnt before TLS may have been forged: forget it and ask again.
      this.#capabilities = new ImapCapabilities([]);
      await this.refreshCapabilities("starttls");
    } else if (requireTls && !this.secure) {
      throw new ImapError("tls-unavailable", "connect", "TLS is required but the connection is not protected by TLS.");
    }
  }

  /** Sends CAPABILITY and stores the answer. */
  async refreshCapabilities(phase: ImapPhase = "capability"): Promise<ImapCapabilities> {
    const tag = this.#wire.nextTag();
    await this.#wire.send(tag, "CAPABILITY", phase);
    const done = await this.#collect(tag, Deadline.in(this.#timeout("command")), phase);
    if (done.tagged.status !== "OK") {
      throw new ImapError("command-failed", phase, `the server refused CAPABILITY: ${done.tagged.status} ${done.tagged.text}`.trimEnd() + ".", {
        command: `${tag} CAPABILITY`,
        reply: replyOf(done.tagged),
      });
    }
    this.#takeCapabilities(done.untagged, done.tagged);
    return this.#capabilities;
  }

  #takeCapabilities(untagged: readonly UntaggedResponse[], tagged?: TaggedResponse): boolean {
    if (tagged?.code?.name === "CAPABILITY") {
      this.#capabilities = ImapCapabilities.parse(tagged.code.args);
      return true;
    }
    for (let i = untagged.length - 1; i >= 0; i--) {
      const u = untagged[i]!;
      if (u.type === "CAPABILITY") {
        this.#capabilities = new ImapCapabilities(u.values.filter((v): v is string => typeof v === "string"));
        return true;
      }
      if (u.code?.name === "CAPABILITY") {
        this.#capabilities = ImapCapabilities.parse(u.code.args);
        return true;
      }
    }
    return false;
  }

  /** Reads until the tagged completion of `tag`. A continuation request is a protocol error here. */
  async #collect(tag: string, deadline: Deadline, phase: ImapPhase): Promise<ImapCommandResult> {
    const untagged: UntaggedResponse[] = [];
    for (;;) {
      const r = await this.#wire.read(deadline, phase);
      if (r.kind === "untagged") {
        untagged.push(r);
        continue;
      }
      if (r.kind === "continuation" || r.tag !== tag) {
        this.#wire.socket.destroy();
        throw new ImapError("protocol-error", phase, r.kind === "continuation" ? "the server asked for a continuation the command did not announce." : `the server completed tag ${r.tag} while ${tag} was pending.`, {
          ...(this.#wire.lastCommand ? { command: this.#wire.lastCommand } : {}),
        });
      }
      return { tagged: r, untagged };
    }
  }

  /**
   * Authenticates with the best mechanism the server offers (core's negotiation and session
   * driver over AUTHENTICATE), or with LOGIN per `options.login`. Rejects with `ImapError` whose
   * `code` is core's SASL code and whose `cause` is the `SaslError`.
   */
  authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    return this.#serialize(() => this.#authenticate(auth));
  }

  async #authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    if (this.#authenticated) throw new ImapError("bad-state", "authenticate", "the connection is already authenticated.");
    const options = this.#options;
    const credentials = Credentials.from(auth);
    const loginMode = options.login ?? "fallback";
    const deadline = Deadline.in(this.#timeout("auth"));
    if (loginMode === "only") return this.#login(credentials, deadline, true);

    const channel = this.#wire.socket.channelInfo(options.host, this.#port);
    const plan = planNegotiation(options.mechanisms, {
      offered: this.#capabilities.mechanisms,
      credentials,
      channel,
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.mechanismOptions ? { options: options.mechanismOptions } : {}),
    });
    const exchange = new ImapSaslExchange({
      wire: this.#wire,
      capabilities: this.#capabilities,
      deadline,
      mutualAuth: (name) => plan.candidates.some((p) => p.name === name && p.security.mutualAuth),
    });
    let error: unknown;
    if (plan.candidates.length > 0) {
      try {
        const result = await runAuthentication(plan, exchange, {
          ...(options.maxRounds !== undefined ? { maxRounds: options.maxRounds } : {}),
          ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        this.#authenticated = true;
        this.#mechanism = result.mechanism;
        const final = exchange.final;
        if (!this.#takeCapabilities(exchange.untagged, final?.kind === "tagged" ? final : undefined)) await this.refreshCapabilities("authenticate");
        return;
      } catch (e) {
        if (e instanceof ImapError) throw e;
        if (!(e instanceof SaslError)) throw this.#wire.wrap(e, "authenticate");
        error = e;
      }
    }
    const mayFallBack = error === undefined || allowsFallback(error);
    if (loginMode === "fallback" && mayFallBack && !options.policy?.force && !options.policy?.order && this.#loginRefusal(credentials) === undefined && !this.closed) {
      return this.#login(credentials, deadline, false);
    }
    if (error === undefined) {
      // The NoMechanismError explains what was offered, installed and refused.
      const sasl = new NoMechanismError(plan.offered, plan.installed, plan.refused);
      throw new ImapError(sasl.code, "authenticate", sasl.message, { cause: sasl });
    }
    const sasl = error as SaslError;
    const final = exchange.final;
    throw new ImapError(sasl.code, "authenticate", sasl.message, {
      cause: sasl,
      ...(this.#wire.lastCommand ? { command: this.#wire.lastCommand } : {}),
      ...(final ? { reply: replyOf(final, this.#wire.redactor) } : {}),
    });
  }

  /** Why the LOGIN command may not be used now, or undefined when it may. */
  #loginRefusal(credentials: Credentials): string | undefined {
    if (this.#capabilities.loginDisabled) return "the server advertises LOGINDISABLED";
    if (!credentials.has(USERNAME) || !credentials.has(PASSWORD)) return "LOGIN needs a username and a password";
    if ((this.#options.policy?.exclude ?? []).some((n) => n.toUpperCase() === "LOGIN")) return "LOGIN is excluded by the caller";
    const cleartext = this.#options.policy?.cleartext ?? "loopback";
    const socket = this.#wire.socket;
    if (!socket.secure && !(cleartext === "allow" || (cleartext === "loopback" && socket.loopback))) {
      return `LOGIN sends the password in clear and the channel is not TLS${cleartext === "never" ? " (strict policy)" : " to a non-loopback host"}`;
    }
    return undefined;
  }

  async #login(credentials: Credentials, deadline: Deadline, explicit: boolean): Promise<void> {
    const refusal = this.#loginRefusal(credentials);
    if (refusal !== undefined) {
      const code = this.#capabilities.loginDisabled ? "login-disabled" : refusal.startsWith("LOGIN needs") ? "missing-credentials" : "policy-refused";
      throw new ImapError(code, "login", `${explicit ? "" : "no SASL mechanism succeeded and "}the LOGIN command cannot be used: ${refusal}.`);
    }
    const wire = this.#wire;
    const password = (await credentials.get(PASSWORD)) ?? "";
    const user = encodeLoginArgument(credentials.username ?? "", this.#capabilities);
    const pass = encodeLoginArgument(password, this.#capabilities);
    if (!user || !pass) throw new ImapError("invalid-credentials-input", "login", "the username or password contains a NUL character, which IMAP cannot carry.");
    wire.redactor.addSecret(password);
    const tag = wire.nextTag();
    const mask = `${tag} LOGIN ****`;
    wire.lastCommand = mask;
    // Send the command in segments: each synchronizing literal waits for the server's "+".
    const chunks: (string | Uint8Array)[] = [];
    let line = `${tag} LOGIN `;
    for (const [i, arg] of [user, pass].entries()) {
      line += arg.text;
      if (arg.literal) {
        chunks.push(`${line}\r\n`, arg.literal);
        line = "";
      }
      if (i === 0) line += " ";
    }
    chunks.push(`${line}\r\n`);
    const untagged: UntaggedResponse[] = [];
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!;
      await wire.write(chunk, "login", i === 0 ? mask : "****");
      const sync = typeof chunk === "string" && /\{\d+\}\r\n$/.test(chunk);
      if (!sync) continue;
      for (;;) {
        const r = await wire.read(deadline, "login");
        if (r.kind === "continuation") break;
        if (r.kind === "untagged") {
          untagged.push(r);
          continue;
        }
        return this.#loginFailed(r, tag);
      }
    }
    const done = await this.#collect(tag, deadline, "login");
    if (done.tagged.status !== "OK") return this.#loginFailed(done.tagged, tag);
    this.#authenticated = true;
    this.#mechanism = "LOGIN-COMMAND";
    if (!this.#takeCapabilities([...untagged, ...done.untagged], done.tagged)) await this.refreshCapabilities("login");
  }

  #loginFailed(r: TaggedResponse, tag: string): never {
    if (r.tag !== tag) throw new ImapError("protocol-error", "login", `the server completed tag ${r.tag} while ${tag} was pending.`);
    const code = r.status === "BAD" ? "protocol-error" : codeOfLoginNo(r.code?.name);
    const reply = replyOf(r, this.#wire.redactor);
    const cause = new SaslError(undefined, code, `The server refused the LOGIN command: ${reply.status}${reply.code ? ` [${reply.code}]` : ""} ${reply.text}`.trimEnd() + ".", {
      reply: { status: reply.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text },
    });
    throw new ImapError(code, "login", cause.message, { command: `${tag} LOGIN ****`, reply, cause });
  }

  /**
   * Runs one command (`"SELECT INBOX"`; no CR/LF, literals not supported) and returns its tagged
   * completion and untagged responses. `NO`/`BAD` are returned, not thrown; transport failures
   * and protocol violations reject with `ImapError`.
   */
  command(command: string, options: { readonly timeoutMs?: number } = {}): Promise<ImapCommandResult> {
    if (/[\r\n]/.test(command)) return Promise.reject(new TypeError("An IMAP command must be a single line without CR or LF."));
    return this.#serialize(async () => {
      const tag = this.#wire.nextTag();
      await this.#wire.send(tag, command, "command");
      const result = await this.#collect(tag, Deadline.in(options.timeoutMs ?? this.#timeout("command")), "command");
      this.#takeCapabilities(result.untagged, result.tagged);
      return result;
    });
  }

  /** Sends LOGOUT, waits for BYE and the tagged OK (or the server closing), then closes. */
  logout(): Promise<void> {
    return this.#serialize(async () => {
      const tag = this.#wire.nextTag();
      try {
        await this.#wire.send(tag, "LOGOUT", "logout");
        await this.#collect(tag, Deadline.in(this.#timeout("command")), "logout");
      } catch (error) {
        if (!(error instanceof ImapError && error.code === "closed")) throw error;
      } finally {
        await this.#wire.socket.close();
      }
    });
  }

  /** Closes without LOGOUT. */
  close(): Promise<void> {
    return this.#wire.socket.close();
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

function codeOfLoginNo(code: string | undefined) {
  switch (code?.toUpperCase()) {
    case "UNAVAILABLE":
    case "LIMIT":
    case "SERVERBUG":
    case "INUSE":
      return "temporary-failure" as const;
    case "AUTHORIZATIONFAILED":
    case "NOPERM":
      return "authorization-failed" as const;
    case "PRIVACYREQUIRED":
      return "encryption-required" as const;
    default:
      return "authentication-failed" as const;
  }
}
