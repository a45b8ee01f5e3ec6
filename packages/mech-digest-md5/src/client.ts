/**
 * The DIGEST-MD5 client half (RFC 2831 §2.1, initial authentication, qop=auth).
 */
import { randomBytes } from "node:crypto";
import {
  CallGuard,
  PASSWORD,
  SaslError,
  constantTimeEqual,
  requirePassword,
  requireUsername,
  requireWellFormed,
  type ClientContext,
  type Credentials,
  type SaslMechanism,
} from "@saslkit/core";
import { latin1Octets, responseValue, userSecret, utf8Octets } from "./digest.js";
import { NAME, channelService, resolveClientOptions, type DigestMd5Options } from "./options.js";
import { DirectiveSyntaxError, groupDirectives, parseDirectives, quote, splitTokenList } from "./parse.js";

/** RFC 2831 §2.1.1: "The size of a digest-challenge MUST be less than 2048 bytes." */
export const DIGEST_MD5_MAX_CHALLENGE_BYTES = 2048;

/** What the client takes from a digest-challenge. Strings are octets (binary strings). */
export interface DigestChallenge {
  /** Offered realms, in order (possibly none). */
  readonly realms: readonly string[];
  readonly nonce: string;
  /** The qop-options, lower case; `["auth"]` when the directive is absent. */
  readonly qop: readonly string[];
  /** True when the server sent `charset=utf-8`. */
  readonly utf8: boolean;
}

const CHALLENGE_ONCE = new Set(["nonce", "qop", "stale", "maxbuf", "charset", "algorithm", "cipher"]);

/**
 * Parses a digest-challenge. Refused (`invalid-challenge`): bad syntax, more than 2047 octets,
 * a duplicated single-valued directive, a missing or empty nonce, a missing algorithm or one other
 * than md5-sess, a charset other than utf-8, a qop list without `auth`.
 */
export function parseDigestChallenge(bytes: Uint8Array): DigestChallenge {
  const fail = (why: string): SaslError => new SaslError(NAME, "invalid-challenge", `${why}.`);
  if (bytes.length === 0) throw fail("challenge is empty");
  if (bytes.length >= DIGEST_MD5_MAX_CHALLENGE_BYTES) throw fail(`a challenge of ${bytes.length} bytes exceeds the ${DIGEST_MD5_MAX_CHALLENGE_BYTES - 1}-byte limit of RFC 2831`);
  let d: Map<string, string[]>;
  try {
    d = groupDirectives(parseDirectives(bytes), CHALLENGE_ONCE);
  } catch (error) {
    if (error instanceof DirectiveSyntaxError) throw fail(`challenge is malformed: ${error.message}`);
    throw error;
  }
  const nonce = d.get("nonce")?.[0];
  if (nonce === undefined) throw fail("challenge has no nonce");
  if (nonce === "") throw fail("challenge has an empty nonce");
  const algorithm = d.get("algorithm")?.[0];
  if (algorithm === undefined) throw fail("challenge has no algorithm directive");
  if (algorithm.toLowerCase() !== "md5-sess") throw fail("challenge names an algorithm other than md5-sess");
  const charset = d.get("charset")?.[0];
  if (charset !== undefined && charset.toLowerCase() !== "utf-8") throw fail("challenge names a charset other than utf-8");
  const qopValue = d.get("qop")?.[0];
  const qop = qopValue === undefined ? ["auth"] : splitTokenList(qopValue);
  if (!qop.includes("auth")) throw fail("the server does not offer qop=auth (saslkit implements authentication only)");
  return { realms: d.get("realm") ?? [], nonce, qop, utf8: charset !== undefined };
}

/** The client's states. */
export const DigestMd5ClientState = {
  /** Waiting for the digest-challenge. */
  awaitingChallenge: "awaitingChallenge",
  /** The digest-response was sent; waiting for the server's `rspauth`. */
  awaitingRspauth: "awaitingRspauth",
  /** The server proved it knows the password. Further challenges are `bad-state`. */
  done: "done",
} as const;
export type DigestMd5ClientState = (typeof DigestMd5ClientState)[keyof typeof DigestMd5ClientState];

/** Test hooks for the client; not read from the options bag. */
export interface DigestMd5ClientSettings {
  /** Produces the cnonce. Default: 16 octets from `crypto.randomBytes`, base64. Only tests set it. */
  readonly makeCnonce?: () => string;
}

/** A control character: refused inside a quoted-string. */
const CTL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/**
 * DIGEST-MD5 client. `start()` returns null (server-first). `step(digest-challenge)` returns
 * the digest-response; `step(rspauth)` checks the server's proof and returns an empty response;
 * `finish(data)` accepts the proof as success data instead (IMAP servers may send it so) and
 * throws `server-verification-failed` when no proof came. `digest-uri` is
 * `service/host` from the adapter's `ChannelInfo` (or `mechanismOptions.digestMd5`). A `step()`
 * or `finish()` while the digest-response is still being computed (the password read) is
 * `bad-state`, and the pending step completes unchanged.
 */
export class DigestMd5Client implements SaslMechanism {
  readonly name = NAME;
  #state: DigestMd5ClientState = DigestMd5ClientState.awaitingChallenge;
  #started = false;
  /** The digest-response reads the password: another call meanwhile is refused. */
  readonly #calls = new CallGuard();
  #expectedRspauth = "";
  readonly #credentials: Credentials;
  readonly #options: DigestMd5Options;
  readonly #host: string | undefined;
  readonly #service: string | undefined;
  readonly #makeCnonce: () => string;

  constructor(context: Pick<ClientContext, "credentials" | "channel" | "options">, settings: DigestMd5ClientSettings = {}) {
    this.#credentials = context.credentials;
    this.#options = resolveClientOptions(context.options);
    this.#service = this.#options.service ?? channelService(context.channel);
    this.#host = this.#options.host ?? context.channel.host;
    this.#makeCnonce = settings.makeCnonce ?? (() => randomBytes(16).toString("base64"));
  }

  get state(): DigestMd5ClientState {
    return this.#state;
  }

  get complete(): boolean {
    return this.#state === DigestMd5ClientState.done;
  }

  /** True once the digest-response (a proof of the password) was produced: no fallback after it. */
  get secretUsed(): boolean {
    return this.#state !== DigestMd5ClientState.awaitingChallenge;
  }

  start(): null {
    if (this.#started) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    this.#started = true;
    this.#username(); // fail before contacting the server
    if (!this.#credentials.has(PASSWORD)) throw new SaslError(NAME, "missing-credentials", "a password is required.");
    this.#digestUri();
    return null;
  }

  async step(challenge: Uint8Array): Promise<Uint8Array> {
    this.#calls.check(NAME, "step()");
    switch (this.#state) {
      case DigestMd5ClientState.awaitingChallenge:
        return this.#respond(challenge);
      case DigestMd5ClientState.awaitingRspauth:
        this.#verify(challenge);
        return new Uint8Array(0);
      case DigestMd5ClientState.done:
        throw new SaslError(NAME, "bad-state", "the exchange is already complete.");
    }
  }

  finish(data: Uint8Array | null = null): void {
    this.#calls.check(NAME, "finish()");
    if (this.#state === DigestMd5ClientState.awaitingRspauth && data !== null && data.length > 0) this.#verify(data);
    if (this.#state !== DigestMd5ClientState.done) {
      throw new SaslError(NAME, "server-verification-failed", "the server reported success without proving that it knows the password (no rspauth).");
    }
  }

  async #respond(bytes: Uint8Array): Promise<Uint8Array> {
    const challenge = parseDigestChallenge(bytes);
    const username = this.#username();
    const password = await this.#calls.hold(() => requirePassword(this.#credentials, NAME));
    requireWellFormed(password, NAME, "password");
    const uri = utf8Octets(this.#digestUri());

    const encode = (text: string, what: string): string => {
      if (challenge.utf8) return utf8Octets(text);
      const octets = latin1Octets(text);
      if (octets === undefined) {
        throw new SaslError(NAME, "invalid-credentials-input", `the server did not offer charset=utf-8 and the ${what} has characters outside ISO 8859-1.`);
      }
      return octets;
    };
    // What is hashed: with charset=utf-8 the UTF-8 octets, unless latin1Hash asks for the RFC's conversion.
    const hashed = (text: string, what: string): string => (challenge.utf8 && this.#options.latin1Hash === true ? (latin1Octets(text) ?? utf8Octets(text)) : encode(text, what));

    const configuredRealm = this.#options.realm;
    if (configuredRealm !== undefined && CTL.test(configuredRealm)) throw new SaslError(NAME, "invalid-credentials-input", "the realm holds a control character.");
    const realm = configuredRealm !== undefined ? encode(configuredRealm, "realm") : challenge.realms[0];
    const realmForHash = configuredRealm !== undefined ? hashed(configuredRealm, "realm") : (realm ?? "");

    const cnonce = this.#makeCnonce();
    if (cnonce === "" || CTL.test(cnonce)) throw new SaslError(NAME, "bad-state", "the cnonce is empty or holds a control character.");
    const authzid = this.#credentials.authzid;
    if (authzid !== undefined) {
      requireWellFormed(authzid, NAME, "authzid");
      if (CTL.test(authzid)) throw new SaslError(NAME, "invalid-credentials-input", "the authzid holds a control character.");
    }
    const inputs = {
      secret: userSecret(hashed(username, "username"), realmForHash, hashed(password, "password")),
      nonce: challenge.nonce,
      cnonce,
      authzid: authzid === undefined ? undefined : utf8Octets(authzid),
      nc: "00000001",
      digestUri: uri,
    };
    this.#expectedRspauth = responseValue(inputs, true);
    const parts = [
      ...(challenge.utf8 ? ["charset=utf-8"] : []),
      `username=${quote(encode(username, "username"))}`,
      ...(realm !== undefined ? [`realm=${quote(realm)}`] : []),
      `nonce=${quote(challenge.nonce)}`,
      `nc=${inputs.nc}`,
      `cnonce=${quote(cnonce)}`,
      `digest-uri=${quote(uri)}`,
      `response=${responseValue(inputs)}`,
      "qop=auth",
      ...(inputs.authzid !== undefined ? [`authzid=${quote(inputs.authzid)}`] : []),
    ];
    this.#state = DigestMd5ClientState.awaitingRspauth;
    return new Uint8Array(Buffer.from(parts.join(","), "latin1"));
  }

  #verify(bytes: Uint8Array): void {
    if (bytes.length >= DIGEST_MD5_MAX_CHALLENGE_BYTES) throw new SaslError(NAME, "server-verification-failed", `the server's rspauth message of ${bytes.length} bytes exceeds the ${DIGEST_MD5_MAX_CHALLENGE_BYTES - 1}-byte limit.`);
    let rspauth: string | undefined;
    try {
      rspauth = groupDirectives(parseDirectives(bytes), new Set(["rspauth"])).get("rspauth")?.[0];
    } catch (error) {
      if (!(error instanceof DirectiveSyntaxError)) throw error;
      throw new SaslError(NAME, "server-verification-failed", `the server's rspauth message is malformed: ${error.message}.`);
    }
    if (rspauth === undefined) throw new SaslError(NAME, "server-verification-failed", "the server's last message has no rspauth.");
    const ok = constantTimeEqual(Buffer.from(rspauth.toLowerCase(), "latin1"), Buffer.from(this.#expectedRspauth, "latin1"));
    if (!ok) throw new SaslError(NAME, "server-verification-failed", "the server's rspauth is wrong: it does not know the password.");
    this.#state = DigestMd5ClientState.done;
  }

  #username(): string {
    const username = requireUsername(this.#credentials, NAME);
    requireWellFormed(username, NAME, "username");
    if (CTL.test(username)) throw new SaslError(NAME, "invalid-credentials-input", "the username holds a control character.");
    return username;
  }

  #digestUri(): string {
    if (this.#service === undefined) {
      throw new SaslError(NAME, "missing-credentials", "the protocol's service name (smtp, imap, pop) is unknown, so no digest-uri can be built; the adapter sets it, or give mechanismOptions.digestMd5.service.");
    }
    if (this.#host === undefined || this.#host === "") {
      throw new SaslError(NAME, "missing-credentials", "the server's host name is unknown, so no digest-uri can be built; give mechanismOptions.digestMd5.host.");
    }
    return `${this.#service}/${this.#host}`;
  }
}

/** Why the client cannot run in `context` (no service or host for digest-uri), or undefined. */
export function digestMd5Unusable(context: ClientContext): string | undefined {
  let options: DigestMd5Options;
  try {
    options = resolveClientOptions(context.options);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if ((options.service ?? channelService(context.channel)) === undefined) return "DIGEST-MD5 needs the protocol's service name for its digest-uri and the adapter gave none";
  if (!(options.host ?? context.channel.host)) return "DIGEST-MD5 needs the server's host name for its digest-uri";
  return undefined;
}
