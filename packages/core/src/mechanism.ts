/**
 * The SASL contracts (RFC 4422), protocol-neutral: bytes in, bytes out.
 *
 * A mechanism never sees base64, `334 `, `+ `, `*`, tags or CRLF: those are framing, and framing
 * belongs to the protocol adapters (SMTP, IMAP, POP3). A mechanism object is one exchange: it is
 * stateful, so every authentication gets a fresh one from its `MechanismProvider`.
 */
import type { CredentialKey, Credentials } from "./credentials.js";
import type { CredentialPreparation } from "./prepare.js";
import type { ServerReplyInfo } from "./errors.js";

export type MaybePromise<T> = T | Promise<T>;

// ---------------------------------------------------------------------------------------------
// Channel: what the adapter knows about the connection.
// ---------------------------------------------------------------------------------------------

/** Channel-binding types (RFC 5056 registry) saslkit knows. */
export type ChannelBindingType = "tls-exporter" | "tls-server-end-point" | "tls-unique";

/**
 * Channel-binding data, handed in by the adapter that owns the TLS socket. Mechanisms never
 * import `node:tls`; they ask this capability instead (rsasl's ChannelBindingCallback, MailKit's
 * IChannelBindingContext). `types` lists what can be produced, best first.
 */
export interface ChannelBinding {
  readonly types: readonly ChannelBindingType[];
  /** The binding data for `type`, or undefined when it cannot be produced on this connection. */
  data(type: ChannelBindingType): Uint8Array | undefined;
}

/** What the adapter knows about the channel the exchange runs over. */
export interface ChannelInfo {
  /** True when the connection is protected by TLS (implicit or after STARTTLS). */
  readonly secure: boolean;
  /** True when the peer is on a loopback address (127.0.0.0/8, ::1). */
  readonly loopback?: boolean;
  /**
   * The RFC 4422 service name of the protocol (`"smtp"`, `"imap"`, `"pop"`), set by the adapter;
   * mechanisms that name the service (a digest-uri) read it here.
   */
  readonly service?: string;
  /** The server's host name as the caller named it (mechanisms that send or check it). */
  readonly host?: string;
  /** The server's port. */
  readonly port?: number;
  /**
   * Server side: this server's address that the client connected to, as the socket reports it (an
   * IPv4 client of a dual-stack socket shows as `::ffff:a.b.c.d`), set by the adapter. A client
   * that names the server by address names this one, so mechanisms that check the server's names
   * (a digest-uri host) may accept it. Unset on the client side.
   */
  readonly localAddress?: string;
  /** Channel-binding capability, when the channel is TLS and the adapter can supply data. */
  readonly channelBinding?: ChannelBinding;
  /** Identity established outside SASL (client certificate subject), for server halves that use it. */
  readonly externalIdentity?: string;
  /**
   * Client side: true when the caller gave the adapter a client certificate for this TLS channel,
   * so a mechanism that authenticates with it may be chosen (see docs/decisions).
   */
  readonly clientCertificate?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Client half.
// ---------------------------------------------------------------------------------------------

/**
 * The client half of one SASL exchange.
 *
 * Life cycle, driven by `runSession` (session.ts) or by hand:
 * 1. `start()` once. It returns the initial response, or `null` when the mechanism sends none.
 *    `null` and an empty array differ: `null` means "no initial response" (SMTP `AUTH X`), an
 *    empty array means "an empty initial response" (SMTP `AUTH X =`).
 * 2. `step(challenge)` for every server challenge, returning the response to send. A challenge
 *    may be empty (`334 ` / `+ `). Called after `complete` is true, it throws
 *    `SaslError("bad-state")`.
 * 3. When the server reports success, `finish(data)` once, with any additional data the server
 *    sent with its success (or null). Mechanisms with mutual authentication verify the server
 *    here or in the last `step`, and throw `SaslError("server-verification-failed")` when they
 *    cannot: success is never reported without proof.
 *
 * Methods may return promises (key derivation, a credential fetched on demand). Calls do not
 * overlap: the session driver awaits each before the next. saslkit's mechanisms refuse a call
 * made while another of the same exchange is still pending with `SaslError("bad-state")` and
 * leave the exchange as it was (the pending call completes as if alone), so no message is
 * produced twice. Errors are always `SaslError`.
 */
export interface SaslMechanism {
  /** The registered name, upper case (`CRAM-MD5`). */
  readonly name: string;
  /** Produce the initial response, or null for none. */
  start(): MaybePromise<Uint8Array | null>;
  /** Answer a server challenge. */
  step(challenge: Uint8Array): MaybePromise<Uint8Array>;
  /**
   * The server reported success. `data` is additional data sent with the success (RFC 4422
   * §3.6), null if none. Throw when the server is not verified.
   */
  finish(data: Uint8Array | null): MaybePromise<void>;
  /** True when the client has sent its last response and verified the server where required. */
  readonly complete: boolean;
  /**
   * Mechanism-specific detail about a failure the server described inside the exchange (a
   * decoded error message). The session driver attaches it to the failure it raises.
   */
  readonly failureDetail?: Readonly<Record<string, unknown>> | undefined;
  /**
   * True when the server's failure detail says a fresh credential may succeed (an expired one)
   * and the credentials can supply one. The session driver then retries exactly once, with
   * `ClientContext.freshCredentials` set.
   */
  readonly retryWithFreshCredentials?: boolean;
  /**
   * True once the mechanism produced a message computed from the secret after its first message
   * (LOGIN's password, the CRAM-MD5 digest, DIGEST-MD5's response, SCRAM's client-final proof).
   * From then on no failure of the exchange is mechanism-level: the session driver marks it
   * `secretSent`, so neither another mechanism nor a protocol login gets the secret or another
   * proof of it, even when the server garbles its answer (see `secretInFirstMessage`).
   */
  readonly secretUsed?: boolean;
}

/** Everything a client factory gets. */
export interface ClientContext {
  readonly credentials: Credentials;
  readonly channel: ChannelInfo;
  /** The mechanism names the server offered, upper case (a mechanism may read what else is there). */
  readonly offered: readonly string[];
  /** Per-mechanism options the caller gave, keyed by each family's own name, opaque to core. */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * True on the one retry the session driver makes after `retryWithFreshCredentials`: the
   * mechanism then asks its credential source for a fresh value instead of the one it used.
   */
  readonly freshCredentials?: boolean;
  /**
   * How the caller wants user names and passwords prepared where the mechanism leaves it open:
   * `"saslprep"` (RFC 4013) or as given (`"none"`, the default). Mechanisms that require
   * SASLprep apply it regardless.
   */
  readonly prepare?: CredentialPreparation;
}

// ---------------------------------------------------------------------------------------------
// Server half.
// ---------------------------------------------------------------------------------------------

/** Who the server half authenticated. */
export interface AuthIdentity {
  /** The authentication identity whose secret was proven. */
  readonly authcid: string;
  /** The authorization identity: the user the client acts as (equals authcid when none was asked). */
  readonly authzid: string;
}

/** What a server half answers after each client message. */
export type ServerStep =
  /** Send this challenge and wait for the client's next response. */
  | { readonly type: "challenge"; readonly data: Uint8Array }
  /** Authenticated. `data` is additional data to deliver with the success, if the protocol allows. */
  | { readonly type: "success"; readonly identity: AuthIdentity; readonly data?: Uint8Array }
  /**
   * Not authenticated. `code` says why; `message` is safe to show the client (no secrets).
   * `reason` is for the server's log only, never sent to the client: the mechanism's own word
   * for the cause (`"credentials"`, `"channel-binding"`, `"downgrade"`), so an operator can tell
   * an attack or a misconfiguration from a mistyped password.
   */
  | {
      readonly type: "failure";
      readonly code: "authentication-failed" | "authorization-failed" | "invalid-response" | "temporary-failure" | "aborted";
      readonly message: string;
      readonly reason?: string;
    };

/**
 * The server half of one SASL exchange. `start(initial)` is called once with the client's initial
 * response (null when none came); then `step(response)` for each client response until a
 * `success` or `failure`. A server-first mechanism (CRAM-MD5) answers `start(null)` with its
 * challenge. Calls after the outcome throw `SaslError("bad-state")`.
 */
export interface SaslServerMechanism {
  readonly name: string;
  start(initial: Uint8Array | null): MaybePromise<ServerStep>;
  step(response: Uint8Array): MaybePromise<ServerStep>;
}

/**
 * The server's view of its user database. Core holds only the generic callbacks; a mechanism
 * family adds its own by module augmentation, next to its code:
 *
 * ```ts
 * declare module "@saslkit/core" {
 *   interface ServerCallbacks { verifyOneTimeCode?(user: string, code: string): MaybePromise<boolean> }
 * }
 * ```
 *
 * Each server half uses the callbacks it needs (listed in its provider's `serverCallbacks`) and
 * fails with `authentication-failed` when one is missing. All may be async.
 */
export interface ServerCallbacks {
  /** Check a password. */
  verifyPassword?(authcid: string, password: string): MaybePromise<boolean>;
  /** The shared secret for a user (for mechanisms that need the plaintext), undefined if no such user. */
  lookupPassword?(authcid: string): MaybePromise<string | undefined>;
  /** May `authcid` act as `authzid`? Default: only when they are equal. */
  authorize?(authcid: string, authzid: string): MaybePromise<boolean>;
}

/** Everything a server factory gets. */
export interface ServerContext {
  readonly callbacks: ServerCallbacks;
  readonly channel: ChannelInfo;
  /** Server host name, for mechanisms that put it in a challenge. */
  readonly hostname: string;
  /** Per-mechanism options the server was given, keyed by each family's own name, opaque to core. */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * The mechanism names this server advertised on this connection, upper case. A mechanism may
   * need to know what else was on offer (a client claiming the server could not bind, RFC 5802 §6).
   * Absent when the embedding server does not say.
   */
  readonly advertised?: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Provider: the descriptor the registry holds.
// ---------------------------------------------------------------------------------------------

/**
 * Security properties a mechanism declares, so policy filters on properties, not names
 * (Cyrus SASL's security flags).
 */
export interface SecurityProperties {
  /** The password (or a replayable equivalent) crosses the wire. */
  readonly sendsSecretInClear: boolean;
  /** The server proves it knows the secret too. */
  readonly mutualAuth: boolean;
  /** The exchange is bound to the TLS channel. */
  readonly channelBinding: boolean;
  /**
   * The client's first message carries the secret (a password or another replayable secret in the initial response).
   * Once that message went out, a failure ends the attempt: no other mechanism and no protocol
   * login is tried, so the secret is not sent again (issue 13 item 4; see docs/decisions).
   */
  readonly secretInFirstMessage?: boolean;
  /**
   * The server half authenticates with an identity the channel established
   * (`ServerContext.channel.externalIdentity`, from a verified client certificate), not with a
   * secret. A server advertises such a mechanism only where that identity can exist.
   */
  readonly channelIdentity?: boolean;
}

/** Why a provider cannot run in a given context, as a sentence, or undefined when it can. */
export type UsabilityCheck = (context: ClientContext) => string | undefined;

/**
 * A mechanism's descriptor and factories: what the registry holds. Never a mechanism instance
 * (an exchange is stateful): `createClient` / `createServer` return a fresh one per exchange.
 *
 * `priority` orders negotiation, highest first, with gaps so third parties can slot between
 * (rsasl's scheme): see docs/decisions/0002-mechanism-order.md. Registration order never
 * influences the choice.
 */
export interface MechanismProvider {
  /** The IANA name, upper case. */
  readonly name: string;
  readonly priority: number;
  /** The client sends the first message; false for server-first mechanisms. */
  readonly clientFirst: boolean;
  readonly security: SecurityProperties;
  /** Credentials the client half needs; negotiation skips the mechanism when one is missing. */
  readonly needs: readonly CredentialKey<unknown>[];
  /** The `ServerCallbacks` the server half uses, by name (so a server can check its options). */
  readonly serverCallbacks?: readonly string[];
  /** Chosen only when the caller names it (`force` or `order`), or when `autoSelect` says the context implies it. */
  readonly explicitOnly?: boolean;
  /**
   * For an `explicitOnly` mechanism: undefined when this context implies it even unnamed (a
   * client certificate and no secret), else the reason it does not, for the refusal.
   */
  readonly autoSelect?: UsabilityCheck;
  /** Extra context check (binding data present, no credentials given, ...). */
  readonly usable?: UsabilityCheck;
  createClient(context: ClientContext): SaslMechanism;
  createServer?(context: ServerContext): SaslServerMechanism;
}

// ---------------------------------------------------------------------------------------------
// Adapter side of the session driver.
// ---------------------------------------------------------------------------------------------

/**
 * What the server said after a client message, already unframed by the adapter.
 * - `challenge`: the decoded bytes of a `334` / `+` line;
 * - `malformed`: a continuation whose payload could not be decoded (bad base64);
 * - `success` / `failure`: the final reply, with any additional data and the adapter's category.
 */
export type ServerEvent =
  | { readonly type: "challenge"; readonly data: Uint8Array }
  | { readonly type: "malformed"; readonly reason: string }
  | { readonly type: "success"; readonly data: Uint8Array | null; readonly reply?: ServerReplyInfo }
  | { readonly type: "failure"; readonly code: FailureCode; readonly reply: ServerReplyInfo };

/** The SaslErrorCodes an adapter may use to classify a server's failure reply. */
export type FailureCode =
  | "authentication-failed"
  | "mechanism-rejected"
  | "mechanism-too-weak"
  | "temporary-failure"
  | "encryption-required"
  | "authorization-failed"
  | "aborted"
  | "protocol-error";

/**
 * One SASL exchange's framing, implemented by a protocol adapter. The session driver calls
 * `begin` once, then `respond` for each challenge, or `cancel` to abort (SMTP `*`, IMAP `*`,
 * POP3 `*`), and awaits what the server says next. Every call must end within the adapter's
 * deadline; transport failures throw the adapter's own errors, which the driver lets through.
 */
export interface SaslExchange {
  /** Send the command that starts `mechanism`, with the initial response or null for none. */
  begin(mechanism: string, initialResponse: Uint8Array | null): Promise<ServerEvent>;
  /** Send a response to the last challenge. */
  respond(response: Uint8Array): Promise<ServerEvent>;
  /** Cancel the exchange; resolves with the server's (failure) reply. */
  cancel(): Promise<ServerEvent>;
}
