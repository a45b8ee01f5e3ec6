/**
 * The DIGEST-MD5 server half (RFC 2831 §2.1, initial authentication, qop=auth).
 */
import { randomBytes } from "node:crypto";
import {
  SaslError,
  constantTimeEqual,
  mayActAs,
  type MaybePromise,
  type SaslServerMechanism,
  type ServerCallbacks,
  type ServerContext,
  type ServerStep,
} from "@saslkit/core";
import { latin1Octets, responseValue, userSecret, utf8Octets } from "./digest.js";
import { NAME, channelService, resolveServerOptions } from "./options.js";
import { DirectiveSyntaxError, groupDirectives, parseDirectives, quote } from "./parse.js";

declare module "@saslkit/core" {
  interface ServerCallbacks {
    /**
     * DIGEST-MD5's stored secret for a user in a realm: the 16 octets of
     * `H({ username ":" realm ":" password })` (see `digestMd5Secret`), so the server need not keep
     * the plaintext. Undefined if no such user. When given, DIGEST-MD5 uses it instead of
     * `lookupPassword`.
     */
    lookupDigestMd5Secret?(authcid: string, realm: string): MaybePromise<Uint8Array | undefined>;
  }
}

/**
 * The secret a server may store for DIGEST-MD5 instead of the password:
 * `H({ username ":" realm ":" password })`, with the user name, realm and password as UTF-8 (what
 * clients send after `charset=utf-8`, and what Dovecot and Cyrus SASL compute).
 */
export function digestMd5Secret(username: string, realm: string, password: string): Uint8Array {
  return new Uint8Array(userSecret(utf8Octets(username), utf8Octets(realm), utf8Octets(password)));
}

/** RFC 2831 §2.1.2: "The size of a digest-response MUST be less than 4096 bytes." */
export const DIGEST_MD5_MAX_RESPONSE_BYTES = 4096;

/** The server half's states. */
export const DigestMd5ServerState = {
  initial: "initial",
  /** The digest-challenge was sent. */
  awaitingResponse: "awaitingResponse",
  done: "done",
} as const;
export type DigestMd5ServerState = (typeof DigestMd5ServerState)[keyof typeof DigestMd5ServerState];

/** Test hooks and settings that no options bag can set. */
export interface DigestMd5ServerSettings {
  /** Produces the nonce. Default: 16 octets from `crypto.randomBytes`, base64. Must differ every time. */
  readonly makeNonce?: () => string;
}

const RESPONSE_ONCE = new Set(["username", "realm", "nonce", "cnonce", "nc", "qop", "digest-uri", "response", "maxbuf", "charset", "cipher", "authzid"]);

type Failure = Extract<ServerStep, { type: "failure" }>;
const invalid = (message: string): Failure => ({ type: "failure", code: "invalid-response", message: `DIGEST-MD5: ${message}` });
const denied: Failure = { type: "failure", code: "authentication-failed", message: "Authentication failed." };
const otherHost = invalid("digest-uri names another host.");
/**
 * A well-formed response for a realm this server did not offer (the client's `digestMd5.realm`,
 * or no realm at all): not a syntax error but credentials this server cannot check, so
 * `authentication-failed` with the reason (the offered realms are public: no user is revealed).
 */
const realmNotOffered: Failure = { type: "failure", code: "authentication-failed", message: "DIGEST-MD5: the realm is not one the server offered.", reason: "credentials" };

/** Names every loopback connection reaches the server by: `localhost`, 127.0.0.0/8, `::1`. */
const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|::1)$/;

/** An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`), as a dual-stack socket reports an IPv4 peer. */
const V4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The host names the digest-uri may name (lower case), or undefined for "any": the option, else
 * the names the server knows itself by (none known: any) and the address the client connected to.
 */
function acceptedHosts(option: readonly string[] | "any" | undefined, context: Pick<ServerContext, "hostname" | "channel">): { names: readonly string[]; loopback: boolean } | undefined {
  if (option === "any") return undefined;
  if (option !== undefined) return { names: option.map(normalHost), loopback: false };
  const names = [context.hostname, context.channel.host].filter((h): h is string => h !== undefined && h !== "").map(normalHost);
  if (names.length === 0) return undefined;
  const local = context.channel.localAddress;
  if (local) names.push(normalHost(local.replace(V4_MAPPED, "$1")));
  return { names, loopback: context.channel.loopback === true };
}

/**
 * A host for comparison: lower case, without the brackets of an address literal (and the `IPv6:`
 * tag of SMTP's form, RFC 5321 §4.1.3: `[IPv6:2001:db8::1]`, a server's name when it has no
 * other) or a trailing root dot.
 */
function normalHost(host: string): string {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1).replace(/^ipv6:/i, "") : host;
  return (bare.endsWith(".") ? bare.slice(0, -1) : bare).toLowerCase();
}

/** Decodes octets as strict UTF-8, or undefined. */
function fromUtf8(octets: string): string | undefined {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(octets, "latin1"));
  } catch {
    return undefined;
  }
}

/**
 * DIGEST-MD5 server half.
 * - `start(null)` sends `realm=...,nonce=...,qop="auth",algorithm=md5-sess,charset=utf-8` (the
 *   order of RFC 2831 §4).
 * - `step(digest-response)` checks the directives (our nonce, nc=00000001, qop=auth, an offered
 *   realm, the service and the host in digest-uri: `options.digestMd5.service` / `hosts`, see
 *   `DigestMd5ServerOptions`; another service or host is `invalid-response`). It takes the stored secret from
 *   `callbacks.lookupDigestMd5Secret`, or else the password from `callbacks.lookupPassword`, and
 *   compares the response in constant time. On success it returns `rspauth=...` as success data;
 *   adapters deliver it as a last challenge where the protocol has no success data.
 *
 * Clients disagree on whether non-ASCII credentials are hashed as UTF-8 or converted to
 * ISO 8859-1 (RFC 2831 §2.1.2.1), so with a password both forms of each are accepted (a stored
 * secret fixes one form: `digestMd5Secret` uses UTF-8). An unknown user costs the same hashing as
 * a known one.
 */
export class DigestMd5Server implements SaslServerMechanism {
  readonly name = NAME;
  #state: DigestMd5ServerState = DigestMd5ServerState.initial;
  #nonce = "";
  readonly #realms: readonly string[];
  readonly #service: string | undefined;
  /** The accepted digest-uri hosts; undefined: any. */
  readonly #hosts: { readonly names: readonly string[]; readonly loopback: boolean } | undefined;
  readonly #callbacks: ServerCallbacks;
  readonly #makeNonce: () => string;

  constructor(context: Pick<ServerContext, "callbacks" | "hostname" | "channel" | "options">, settings: DigestMd5ServerSettings = {}) {
    const options = resolveServerOptions(context.options);
    this.#callbacks = context.callbacks;
    this.#realms = (options.realms ?? (context.hostname ? [context.hostname] : [])).map(utf8Octets);
    this.#service = options.service ?? channelService(context.channel);
    this.#hosts = acceptedHosts(options.hosts, context);
    this.#makeNonce = settings.makeNonce ?? (() => randomBytes(16).toString("base64"));
  }

  get state(): DigestMd5ServerState {
    return this.#state;
  }

  start(initial: Uint8Array | null): ServerStep {
    if (this.#state !== DigestMd5ServerState.initial) throw new SaslError(NAME, "bad-state", "start() was called twice.");
    if (initial !== null) {
      this.#state = DigestMd5ServerState.done;
      return invalid("takes no initial response (subsequent authentication is not supported).");
    }
    this.#nonce = this.#makeNonce();
    const parts = [...this.#realms.map((r) => `realm=${quote(r)}`), `nonce=${quote(this.#nonce)}`, 'qop="auth"', "algorithm=md5-sess", "charset=utf-8"];
    this.#state = DigestMd5ServerState.awaitingResponse;
    return { type: "challenge", data: new Uint8Array(Buffer.from(parts.join(","), "latin1")) };
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    if (this.#state !== DigestMd5ServerState.awaitingResponse) {
      throw new SaslError(NAME, "bad-state", this.#state === DigestMd5ServerState.done ? "the exchange is already over." : "step() was called before start().");
    }
    this.#state = DigestMd5ServerState.done;
    if (response.length >= DIGEST_MD5_MAX_RESPONSE_BYTES) return invalid(`the response exceeds the ${DIGEST_MD5_MAX_RESPONSE_BYTES - 1}-byte limit of RFC 2831.`);
    let d: Map<string, string[]>;
    try {
      d = groupDirectives(parseDirectives(response), RESPONSE_ONCE);
    } catch (error) {
      if (error instanceof DirectiveSyntaxError) return invalid(`the response is malformed: ${error.message}.`);
      throw error;
    }
    const get = (name: string): string | undefined => d.get(name)?.[0];
    const username = get("username");
    const nonce = get("nonce");
    const cnonce = get("cnonce");
    const nc = get("nc");
    const digestUri = get("digest-uri");
    const proof = get("response");
    const charset = get("charset");
    if (username === undefined || username === "") return invalid("the response has no username.");
    if (nonce === undefined || !constantTimeEqual(Buffer.from(nonce, "latin1"), Buffer.from(this.#nonce, "latin1"))) return invalid("the response does not echo the server's nonce.");
    if (cnonce === undefined || cnonce === "") return invalid("the response has no cnonce.");
    if (nc !== "00000001") return invalid("nc must be 00000001 in an initial authentication.");
    if ((get("qop") ?? "auth").toLowerCase() !== "auth") return invalid("only qop=auth is supported.");
    if (proof === undefined || !/^[0-9a-fA-F]{32}$/.test(proof)) return invalid("the response value must be 32 hex digits.");
    if (charset !== undefined && charset.toLowerCase() !== "utf-8") return invalid("the only charset is utf-8.");
    if (digestUri === undefined) return invalid("the response has no digest-uri.");
    const slash = digestUri.indexOf("/");
    if (slash <= 0 || slash === digestUri.length - 1) return invalid("digest-uri must be service/host.");
    if (this.#service !== undefined && digestUri.slice(0, slash).toLowerCase() !== this.#service.toLowerCase()) return invalid("digest-uri names another service.");
    if (this.#hosts !== undefined && !this.#isOwnHost(digestUri, slash)) return otherHost;
    const realm = get("realm");
    if (this.#realms.length > 0 && (realm === undefined || !this.#realms.includes(realm))) return realmNotOffered;

    const utf8 = charset !== undefined;
    const user = utf8 ? fromUtf8(username) : username; // without charset, octets are ISO 8859-1
    if (user === undefined) return invalid("the username is not valid UTF-8.");
    const authzidOctets = get("authzid");
    const authzid = authzidOctets === undefined ? "" : fromUtf8(authzidOctets);
    if (authzid === undefined) return invalid("the authzid is not valid UTF-8.");

    const realmText = realm === undefined ? "" : utf8 ? fromUtf8(realm) : realm;
    if (realmText === undefined) return invalid("the realm is not valid UTF-8.");
    const candidates = await this.#candidates(user, username, realmText, realm ?? "", utf8);
    const inputs = { nonce: this.#nonce, cnonce, authzid: authzidOctets, nc, digestUri };
    const given = Buffer.from(proof.toLowerCase(), "latin1");
    let matched: Buffer | undefined;
    for (const secret of candidates.secrets) {
      if (constantTimeEqual(Buffer.from(responseValue({ ...inputs, secret }), "latin1"), given) && candidates.known) matched = secret;
    }
    if (matched === undefined) return denied;
    const actAs = authzid === "" ? user : authzid;
    if (!(await mayActAs(this.#callbacks, user, actAs))) {
      return { type: "failure", code: "authorization-failed", message: "Not authorized to act as the requested authorization identity." };
    }
    const rspauth = responseValue({ ...inputs, secret: matched }, true);
    return { type: "success", identity: { authcid: user, authzid: actAs }, data: new Uint8Array(Buffer.from(`rspauth=${rspauth}`, "latin1")) };
  }

  /** True when the host of `digestUri` (`serv-type/host[/serv-name]`) is one of the accepted names. */
  #isOwnHost(digestUri: string, slash: number): boolean {
    const end = digestUri.indexOf("/", slash + 1);
    const host = normalHost(digestUri.slice(slash + 1, end < 0 ? undefined : end));
    const hosts = this.#hosts as { readonly names: readonly string[]; readonly loopback: boolean };
    return hosts.names.includes(host) || (hosts.loopback && LOOPBACK_HOST.test(host));
  }

  /**
   * The `H(user:realm:password)` values the response may be built on: the stored secret from
   * `lookupDigestMd5Secret`, else one per encoding of the password from `lookupPassword` (the
   * same number for every request; an unknown user gets random ones, so timing does not tell
   * which names exist).
   */
  async #candidates(user: string, usernameOctets: string, realmText: string, realmOctets: string, utf8: boolean): Promise<{ secrets: Buffer[]; known: boolean }> {
    const callbacks = this.#callbacks;
    if (callbacks.lookupDigestMd5Secret) {
      const stored = await callbacks.lookupDigestMd5Secret.call(callbacks, user, realmText);
      const known = stored !== undefined && stored.length === 16;
      return { secrets: [known ? Buffer.from(stored) : randomBytes(16)], known };
    }
    const password = await callbacks.lookupPassword?.call(callbacks, user);
    const secretPassword = password ?? randomBytes(16).toString("hex");
    const userForms = utf8 ? [usernameOctets, latin1Octets(user) ?? usernameOctets] : [usernameOctets];
    const passwordForms = utf8 ? [utf8Octets(secretPassword), latin1Octets(secretPassword) ?? utf8Octets(secretPassword)] : [latin1Octets(secretPassword) ?? utf8Octets(secretPassword)];
    const secrets: Buffer[] = [];
    for (const u of userForms) for (const p of passwordForms) secrets.push(userSecret(u, realmOctets, p));
    return { secrets, known: password !== undefined };
  }
}
