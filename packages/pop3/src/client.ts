/**
 * The POP3 client: connect, secure the channel, authenticate with the negotiated mechanism
 * (or USER/PASS, APOP when asked for), then hand back a connection with a small command API.
 */
import { createHash } from "node:crypto";
import {
  Credentials,
  NoMechanismError,
  SaslError,
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
import { Pop3SaslExchange, failureCodeOf } from "./auth.js";
import { Pop3Capabilities } from "./capabilities.js";
import { Pop3Error, type Pop3Phase, type Pop3Reply } from "./errors.js";
import { apopTimestamp, unstuff } from "./reply.js";
import { Pop3Wire, toPop3Error } from "./wire.js";

/** Time limits in milliseconds; each is an absolute deadline for its whole step. */
export interface Pop3Timeouts {
  /** TCP connect plus implicit-TLS handshake. Default 15000. */
  readonly connect?: number;
  readonly greeting?: number;
  /** STLS command and handshake. Default 15000. */
  readonly tls?: number;
  /** The whole authentication, all attempts together. Default 30000. */
  readonly auth?: number;
  /** Each command of the command API, multi-line body included. Default 30000. */
  readonly command?: number;
}

/**
 * How to connect and authenticate.
 *
 * Security defaults: `tls: "starttls"` (STLS) with `requireTls` true (fail closed without STLS);
 * capabilities read before TLS are discarded; mechanisms revealing a secret are refused on
 * cleartext per `policy.cleartext` (core's default: loopback only), and so is USER/PASS.
 */
export interface Pop3ConnectOptions {
  readonly host: string;
  /** Default 995 for implicit TLS, else 110. */
  readonly port?: number;
  /** `implicit` (POP3S, 995), `starttls` (STLS, default) or `none`. */
  readonly tls?: "implicit" | "starttls" | "none";
  /** Fail unless the channel ends up TLS-protected. Default: true unless `tls` is `none`. */
  readonly requireTls?: boolean;
  readonly tlsOptions?: TlsSettings;
  /** Credentials; when absent, `connect` stops after the capabilities. */
  readonly auth?: CredentialsInput;
  readonly mechanisms?: MechanismSource;
  readonly policy?: NegotiationPolicy;
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /**
   * `never` (default): SASL AUTH only. `user`: USER/PASS instead (RFC 1939; same cleartext rule as
   * PLAIN). `apop`: APOP (RFC 1939 §7; MD5 of the greeting timestamp and the password; weak).
   */
  readonly login?: "never" | "user" | "apop";
  readonly timeouts?: Pop3Timeouts;
  /** Longest line accepted, in bytes. Default 65536. */
  readonly maxLineBytes?: number;
  /** Largest multi-line body accepted by `command`. Default 64 MiB. */
  readonly maxMultilineBytes?: number;
  /** Most challenges in one exchange. Default 10. */
  readonly maxRounds?: number;
  /** Most SASL mechanisms tried. Default 3. */
  readonly maxAttempts?: number;
  /** Receives every line; client lines of AUTH, PASS and APOP are masked. */
  readonly transcript?: TranscriptSink;
  readonly signal?: AbortSignal;
}

/** The outcome of one command: `+OK` or `-ERR`, its text, and the unstuffed body of a multi-line answer. */
export interface Pop3CommandResult {
  readonly ok: boolean;
  readonly text: string;
  /** Extended response code (`IN-USE`), when the server gave one. */
  readonly code?: string;
  readonly raw: string;
  /** Body lines of a multi-line `+OK` answer, dot-unstuffing undone, terminator removed. */
  readonly lines?: readonly string[];
}

const DEFAULTS = { connect: 15000, greeting: 15000, tls: 15000, auth: 30000, command: 30000 } as const;

/** Entry point: `Pop3Client.connect(options)`. */
export const Pop3Client = {
  /** Connects, secures, authenticates (when `auth` is given). Rejects with `Pop3Error`. */
  async connect(options: Pop3ConnectOptions): Promise<Pop3Connection> {
    const tlsMode = options.tls ?? "starttls";
    const port = options.port ?? (tlsMode === "implicit" ? 995 : 110);
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
      throw toPop3Error(error, "connect");
    }
    const connection = new Pop3Connection(socket, options, port);
    try {
      await connection.open(tlsMode);
      if (options.auth !== undefined) await connection.authenticate(options.auth);
      return connection;
    } catch (error) {
      socket.destroy();
      throw error;
    }
  },
};

/** An open POP3 connection. Commands run one at a time, in call order. */
export class Pop3Connection {
  readonly #wire: Pop3Wire;
  readonly #options: Pop3ConnectOptions;
  readonly #port: number;
  #capabilities = new Pop3Capabilities([]);
  #greeting: Pop3Reply | undefined;
  #authenticated = false;
  #mechanism: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /** @internal use `Pop3Client.connect`. */
  constructor(socket: LineSocket, options: Pop3ConnectOptions, port: number) {
    this.#wire = new Pop3Wire(socket);
    this.#options = options;
    this.#port = port;
  }

  get capabilities(): Pop3Capabilities {
    return this.#capabilities;
  }
  /** The server's greeting, verbatim. */
  get greeting(): Pop3Reply | undefined {
    return this.#greeting;
  }
  get authenticated(): boolean {
    return this.#authenticated;
  }
  /** The SASL mechanism that authenticated, or `USER` / `APOP`. */
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

  #timeout(kind: keyof Pop3Timeouts): number {
    return this.#options.timeouts?.[kind] ?? DEFAULTS[kind];
  }

  /** @internal greeting, CAPA, STLS. */
  async open(tlsMode: "implicit" | "starttls" | "none"): Promise<void> {
    const requireTls = this.#options.requireTls ?? tlsMode !== "none";
    const greeting = await this.#wire.status(Deadline.in(this.#timeout("greeting")), "greeting");
    this.#greeting = greeting;
    if (greeting.status !== "+OK") throw new Pop3Error("server-rejected", "greeting", `the server refused the connection: ${greeting.text}`.trimEnd(), { reply: greeting });
    await this.refreshCapabilities("capability");
    if (tlsMode === "starttls") {
      if (!this.#capabilities.stls) {
        if (requireTls) throw new Pop3Error("tls-unavailable", "starttls", "the server does not offer STLS and TLS is required.");
        return;
      }
      const deadline = Deadline.in(this.#timeout("tls"));
      await this.#wire.send("STLS", "starttls");
      const reply = await this.#wire.status(deadline, "starttls");
      if (reply.status !== "+OK") {
        if (!requireTls) return;
        throw new Pop3Error("command-failed", "starttls", `the server refused STLS: ${reply.text}`.trimEnd() + ".", { command: "STLS", reply });
      }
      try {
        await this.#wire.socket.startTls({ ...(this.#options.tlsOptions ?? {}) }, deadline);
      } catch (error) {
        throw toPop3Error(error, "starttls", "STLS");
      }
      // What the server said before TLS may have been forged: forget it and ask again.
      this.#capabilities = new Pop3Capabilities([]);
      await this.refreshCapabilities("starttls");
    } else if (requireTls && !this.secure) {
      throw new Pop3Error("tls-unavailable", "connect", "TLS is required but the connection is not protected by TLS.");
    }
  }

  /** Sends CAPA and stores the answer; a server without CAPA (plain RFC 1939) leaves the set empty. */
  async refreshCapabilities(phase: Pop3Phase = "capability"): Promise<Pop3Capabilities> {
    const result = await this.#run("CAPA", true, Deadline.in(this.#timeout("command")), phase);
    this.#capabilities = new Pop3Capabilities(result.ok ? (result.lines ?? []) : []);
    return this.#capabilities;
  }

  /**
   * Authenticates per `options.login`: SASL (core's negotiation and session driver over AUTH),
   * USER/PASS or APOP. Rejects with `Pop3Error` whose `code` is core's SASL code and whose
   * `cause` is the `SaslError`.
   */
  authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    return this.#serialize(() => this.#authenticate(auth));
  }

  async #authenticate(auth: CredentialsInput | Credentials): Promise<void> {
    if (this.#authenticated) throw new Pop3Error("bad-state", "authenticate", "the connection is already authenticated.");
    const options = this.#options;
    const credentials = Credentials.from(auth);
    const deadline = Deadline.in(this.#timeout("auth"));
    const mode = options.login ?? "never";
    if (mode === "user") return this.#userPass(credentials, deadline);
    if (mode === "apop") return this.#apop(credentials, deadline);

    const plan = planNegotiation(options.mechanisms, {
      offered: this.#capabilities.mechanisms,
      credentials,
      channel: this.#wire.socket.channelInfo(options.host, this.#port),
      ...(options.policy ? { policy: options.policy } : {}),
      ...(options.mechanismOptions ? { options: options.mechanismOptions } : {}),
    });
    if (plan.candidates.length === 0) {
      const sasl = new NoMechanismError(plan.offered, plan.installed, plan.refused);
      throw new Pop3Error(sasl.code, "authenticate", sasl.message, { cause: sasl });
    }
    const exchange = new Pop3SaslExchange(this.#wire, deadline);
    try {
      const result = await runAuthentication(plan, exchange, {
        ...(options.maxRounds !== undefined ? { maxRounds: options.maxRounds } : {}),
        ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      this.#authenticated = true;
      this.#mechanism = result.mechanism;
    } catch (error) {
      if (error instanceof Pop3Error) throw error;
      if (!(error instanceof SaslError)) throw toPop3Error(error, "authenticate", this.#wire.lastCommand);
      throw new Pop3Error(error.code, "authenticate", error.message, {
        cause: error,
        ...(this.#wire.lastCommand ? { command: this.#wire.lastCommand } : {}),
        ...(exchange.final ? { reply: exchange.final } : {}),
      });
    }
  }

  #cleartextRefusal(): string | undefined {
    const cleartext = this.#options.policy?.cleartext ?? "loopback";
    const socket = this.#wire.socket;
    if (socket.secure || cleartext === "allow" || (cleartext === "loopback" && socket.loopback)) return undefined;
    return `USER/PASS sends the password in clear and the channel is not TLS${cleartext === "never" ? " (strict policy)" : " to a non-loopback host"}`;
  }

  async #userPass(credentials: Credentials, deadline: Deadline): Promise<void> {
    if (!credentials.has(USERNAME) || !credentials.has(PASSWORD)) throw new Pop3Error("missing-credentials", "user", "USER/PASS needs a username and a password.");
    const refusal = this.#cleartextRefusal();
    if (refusal) throw new Pop3Error("policy-refused", "user", `${refusal}.`);
    const username = credentials.username ?? "";
    const password = (await credentials.get(PASSWORD)) ?? "";
    if (/[\r\n\0]/.test(username) || /[\r\n\0]/.test(password)) {
      throw new Pop3Error("invalid-credentials-input", "user", "the username or password contains CR, LF or NUL, which POP3 cannot carry.");
    }
    this.#wire.redactor.addSecret(password);
    await this.#wire.send(`USER ${username}`, "user");
    const user = this.#wire.scrub(await this.#wire.status(deadline, "user"));
    if (user.status !== "+OK") this.#loginFailed("user", user, "USER");
    await this.#wire.send(`PASS ${password}`, "user", "PASS ****");
    const pass = this.#wire.scrub(await this.#wire.status(deadline, "user"));
    if (pass.status !== "+OK") this.#loginFailed("user", pass, "PASS");
    this.#authenticated = true;
    this.#mechanism = "USER";
  }

  async #apop(credentials: Credentials, deadline: Deadline): Promise<void> {
    if (!credentials.has(USERNAME) || !credentials.has(PASSWORD)) throw new Pop3Error("missing-credentials", "apop", "APOP needs a username and a password.");
    const timestamp = apopTimestamp(this.#greeting?.text ?? "");
    if (!timestamp) throw new Pop3Error("apop-unavailable", "apop", "the server's greeting carries no APOP timestamp.");
    const username = credentials.username ?? "";
    if (/[\s\0]/.test(username)) throw new Pop3Error("invalid-credentials-input", "apop", "the username contains white space or NUL, which APOP cannot carry.");
    const digest = createHash("md5")
      .update(timestamp + ((await credentials.get(PASSWORD)) ?? ""), "utf8")
      .digest("hex");
    this.#wire.redactor.add(digest);
    this.#wire.redactor.addSecret((await credentials.get(PASSWORD)) ?? "");
    await this.#wire.send(`APOP ${username} ${digest}`, "apop", `APOP ${username} ****`);
    const reply = this.#wire.scrub(await this.#wire.status(deadline, "apop"));
    if (reply.status !== "+OK") this.#loginFailed("apop", reply, "APOP");
    this.#authenticated = true;
    this.#mechanism = "APOP";
  }

  #loginFailed(phase: Pop3Phase, reply: Pop3Reply, command: string): never {
    const code = failureCodeOf(reply.code, true, false);
    const cause = new SaslError(undefined, code, `The server refused ${command}: -ERR${reply.code ? ` [${reply.code}]` : ""} ${reply.text}`.trimEnd() + ".", {
      reply: { status: reply.status, ...(reply.code ? { enhanced: reply.code } : {}), text: reply.text },
    });
    throw new Pop3Error(code, phase, cause.message, { ...(this.#wire.lastCommand ? { command: this.#wire.lastCommand } : {}), reply, cause });
  }

  /**
   * Runs one command (`"STAT"`, `"LIST"`; no CR/LF). With `multiline: true` a `+OK` answer's body
   * is read up to the terminating `.` and unstuffed. `-ERR` is returned, not thrown.
   */
  command(command: string, options: { readonly multiline?: boolean; readonly timeoutMs?: number } = {}): Promise<Pop3CommandResult> {
    if (/[\r\n]/.test(command)) return Promise.reject(new TypeError("A POP3 command must be a single line without CR or LF."));
    return this.#serialize(() => this.#run(command, options.multiline ?? false, Deadline.in(options.timeoutMs ?? this.#timeout("command")), "command"));
  }

  async #run(command: string, multiline: boolean, deadline: Deadline, phase: Pop3Phase): Promise<Pop3CommandResult> {
    await this.#wire.send(command, phase);
    const reply = await this.#wire.status(deadline, phase);
    const base = { ok: reply.status === "+OK", text: reply.text, ...(reply.code ? { code: reply.code } : {}), raw: reply.raw };
    if (!multiline || !base.ok) return base;
    const limit = this.#options.maxMultilineBytes ?? 64 * 1024 * 1024;
    const lines: string[] = [];
    let size = 0;
    for (;;) {
      const line = unstuff(await this.#wire.readRaw(deadline, phase));
      if (line === undefined) return { ...base, lines };
      size += line.length + 2;
      if (size > limit) {
        this.#wire.socket.destroy();
        throw new Pop3Error("protocol-error", phase, `the multi-line answer exceeds the limit of ${limit} bytes.`, { command });
      }
      lines.push(line);
    }
  }

  /** Sends QUIT (committing deletions, RFC 1939 §6), waits for its answer, closes. */
  quit(): Promise<Pop3CommandResult | undefined> {
    return this.#serialize(async () => {
      try {
        return await this.#run("QUIT", false, Deadline.in(this.#timeout("command")), "quit");
      } catch (error) {
        if (error instanceof Pop3Error && error.code === "closed") return undefined;
        throw error;
      } finally {
        await this.#wire.socket.close();
      }
    });
  }

  /** Closes without QUIT (deletions are not committed). */
  close(): Promise<void> {
    return this.#wire.socket.close();
  }

  #serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
