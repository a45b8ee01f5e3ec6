/**
 * The SCRAM server half (RFC 5802 §5), from stored keys: the server never sees the password.
 */
import { createHmac, randomBytes } from "node:crypto";
import { CallGuard, SaslError, constantTimeEqual, mayActAs, utf8 } from "@saslkit/core";
import type { SaslServerMechanism, ServerContext, ServerStep } from "@saslkit/core";
import type { ScramStoredKeys } from "./stored-keys.js";
import { canBind } from "./binding.js";
import { scramName, type ScramParams } from "./client.js";
import { HASHES, digest, hmac, xor, type ScramHash } from "./keys.js";
import {
  MandatoryExtensionProblem,
  SyntaxProblem,
  decodeBase64Strict,
  encodeBase64,
  parseAttributes,
  parseClientFirst,
  type ClientFirst,
} from "./messages.js";
import { resolveScramOptions, type ResolvedScramOptions } from "./options.js";
import { saslprepOrThrow } from "./prep.js";

/** RFC 5802 `server-error-value`s this server sends. */
export type ScramServerError =
  | "invalid-encoding"
  | "extensions-not-supported"
  | "invalid-proof"
  | "channel-bindings-dont-match"
  | "server-does-support-channel-binding"
  | "channel-binding-not-supported"
  | "unsupported-channel-binding-type"
  | "invalid-username-encoding"
  | "other-error";

type ServerState = "initial" | "awaiting-client-first" | "awaiting-client-final" | "done";

/** Why a SCRAM server failed, for the server's log (`ServerStep.reason`); never sent to the client. */
export type ScramFailureReason =
  /** Wrong password or unknown user: the two are deliberately the same. */
  | "credentials"
  /** The channel-binding data did not match, or the client asked for a type or binding the server cannot give. */
  | "channel-binding"
  /** GS2 flag `y` although this server advertised a -PLUS variant: someone removed it from the list (RFC 5802 §6). */
  | "downgrade"
  /** The client message was malformed. */
  | "malformed"
  /** Authorization identity refused, or the server has no key lookup. */
  | "other";

// Unknown users get a made-up server-first that looks like a real one (issue 10 item 6): the
// salt is an HMAC of the name under this secret, so it is the same for the same name.
const processUnknownUserSecret = randomBytes(32);

/** The iteration count and salt length of the most recent real keys per hash: the deployment's. */
const recentKeyShape = new Map<ScramHash, { readonly iterations: number; readonly saltLength: number }>();

const PLUS = /^SCRAM-[A-Z0-9-]+-PLUS$/;

/**
 * The server half of one SCRAM exchange.
 *
 * Keys come from `callbacks.lookupScramKeys(authcid, hash)` (hash `"SHA-1"`, `"SHA-256"` or
 * `"SHA-512"`); create them with `deriveScramKeys`. The user name is SASLprep'd before the lookup.
 * An unknown user runs the exchange on made-up keys and fails at the proof, as a wrong password
 * does, so the exchange does not reveal who exists.
 *
 * Channel binding: the server binds when `context.channel.channelBinding` yields data of a type
 * `options.scram.channelBinding` allows (default: any type; `false`: none). A -PLUS exchange
 * must name such a type and send matching `c=` data. A client sending GS2 flag `y` ("I can bind, I think you cannot") fails only when this server advertised a -PLUS
 * variant (`context.advertised`; RFC 5802 §6): then someone removed it from the list. An
 * embedding server that offers -PLUS must pass `advertised`, or downgrades go undetected.
 *
 * Unknown users (issue 10 item 6): the made-up server-first uses the deployment's iteration count
 * and salt length (`options.scram.iterations` / `saltLength`, else those of the most recent real
 * keys), a salt that is an HMAC of the name (stable per name), and the exchange runs the same
 * computations and constant-time comparisons as for a real user, failing with `e=invalid-proof`.
 *
 * Every failure carries `reason` (`ScramFailureReason`) for the server's log: binding failures and
 * downgrades are told apart from wrong credentials there, while the client sees the RFC error.
 *
 * Outcome: `success` carries the server-final message `v=<ServerSignature>` as its data (the
 * adapter delivers it inline or as a last challenge). `failure.message` is exactly the RFC 5802
 * server-error attribute, `e=<value>` (for example `e=invalid-proof`), which an adapter may send
 * as a last challenge or put in its failure reply. Codes: `invalid-response` for malformed
 * messages, `authentication-failed` for a wrong proof or binding, `authorization-failed` when the
 * authzid is refused. A call made while another is still waiting for a callback is `bad-state`
 * and changes nothing.
 */
export class ScramServer implements SaslServerMechanism {
  readonly name: string;
  readonly #hash: ScramHash;
  readonly #plus: boolean;
  readonly #context: ServerContext;
  readonly #nonceOverride: string | undefined;
  #state: ServerState = "initial";
  /** A call is waiting for a callback (key lookup, authorization): another call is refused. */
  readonly #calls = new CallGuard();
  #first: ClientFirst | undefined;
  #authcid = "";
  #keys: ScramStoredKeys | undefined;
  #knownUser = false;
  #serverFirst = "";
  #nonce = "";
  #expectedCbind: Uint8Array = new Uint8Array(0);

  constructor(context: ServerContext, params: ScramParams) {
    this.#hash = params.hash;
    this.#plus = params.plus ?? false;
    this.name = scramName(this.#hash, this.#plus);
    this.#context = context;
    this.#nonceOverride = params.nonce;
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    this.#calls.check(this.name, "start()");
    if (this.#state !== "initial") throw new SaslError(this.name, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response: ask for client-first with an empty challenge.
      this.#state = "awaiting-client-first";
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#calls.hold(() => this.#clientFirst(initial));
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    this.#calls.check(this.name, "step()");
    return this.#calls.hold(async () => {
      switch (this.#state) {
        case "initial":
          throw new SaslError(this.name, "bad-state", "step() was called before start().");
        case "done":
          throw new SaslError(this.name, "bad-state", "step() was called after the outcome.");
        case "awaiting-client-first":
          return await this.#clientFirst(response);
        case "awaiting-client-final":
          return await this.#clientFinal(response);
      }
    });
  }


  #failure(code: "invalid-response" | "authentication-failed" | "authorization-failed", error: ScramServerError, reason?: ScramFailureReason): ServerStep {
    this.#state = "done";
    return { type: "failure", code, message: `e=${error}`, reason: reason ?? (code === "invalid-response" ? "malformed" : "other") };
  }

  #decode(bytes: Uint8Array): string | undefined {
    try {
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      return undefined;
    }
  }

  async #clientFirst(bytes: Uint8Array): Promise<ServerStep> {
    const text = this.#decode(bytes);
    if (text === undefined) return this.#failure("invalid-response", "invalid-encoding");
    let first: ClientFirst;
    try {
      first = parseClientFirst(text);
    } catch (error) {
      if (error instanceof MandatoryExtensionProblem) return this.#failure("invalid-response", "extensions-not-supported");
      if (error instanceof SyntaxProblem) return this.#failure("invalid-response", "invalid-encoding");
      throw error;
    }

    const options = resolveScramOptions(this.#context.options);
    const binding = this.#context.channel.channelBinding;
    const serverBinds = options.channelBinding && canBind(binding, options.channelBindingTypes);
    let cbData: Uint8Array = new Uint8Array(0);
    if (this.#plus) {
      if (first.flag.kind !== "p") return this.#failure("authentication-failed", "channel-bindings-dont-match", "channel-binding");
      if (!serverBinds) return this.#failure("authentication-failed", "channel-binding-not-supported", "channel-binding");
      const type = options.channelBindingTypes.find((t) => t === (first.flag as { type: string }).type);
      const data = type && binding?.types.includes(type) ? binding.data(type) : undefined;
      if (!data || data.length === 0) return this.#failure("authentication-failed", "unsupported-channel-binding-type", "channel-binding");
      cbData = data;
    } else if (first.flag.kind === "p") {
      // p= is only valid with a -PLUS mechanism name.
      return this.#failure("invalid-response", "invalid-encoding");
    } else if (first.flag.kind === "y") {
      // The client could bind but saw no -PLUS offered. Only if we did offer one was it stripped.
      const advertised = this.#context.advertised;
      const offeredPlus = advertised?.some((m) => PLUS.test(m.toUpperCase())) ?? false;
      if (offeredPlus) return this.#failure("authentication-failed", "server-does-support-channel-binding", "downgrade");
    }

    let authcid: string;
    try {
      authcid = saslprepOrThrow(first.username, "the user name", this.name, "invalid-response");
    } catch {
      return this.#failure("invalid-response", "invalid-username-encoding");
    }

    const lookup = this.#context.callbacks.lookupScramKeys;
    if (!lookup) return this.#failure("authentication-failed", "other-error");
    const keys = await lookup.call(this.#context.callbacks, authcid, this.#hash);
    const length = HASHES[this.#hash].length;
    if (keys && keys.salt.length > 0 && Number.isInteger(keys.iterations) && keys.iterations >= 1 && keys.storedKey.length === length && keys.serverKey.length === length) {
      this.#keys = keys;
      this.#knownUser = true;
      recentKeyShape.set(this.#hash, { iterations: keys.iterations, saltLength: keys.salt.length });
    } else {
      this.#keys = unknownUserKeys(this.#hash, authcid, options);
    }

    const serverPart = this.#nonceOverride ?? randomBytes(18).toString("base64");
    this.#nonce = first.nonce + serverPart;
    this.#serverFirst = `r=${this.#nonce},s=${encodeBase64(this.#keys.salt)},i=${this.#keys.iterations}`;
    const headerBytes = utf8(first.header);
    this.#expectedCbind = new Uint8Array(headerBytes.length + cbData.length);
    this.#expectedCbind.set(headerBytes);
    this.#expectedCbind.set(cbData, headerBytes.length);
    this.#first = first;
    this.#authcid = authcid;
    this.#state = "awaiting-client-final";
    return { type: "challenge", data: utf8(this.#serverFirst) };
  }

  async #clientFinal(bytes: Uint8Array): Promise<ServerStep> {
    const text = this.#decode(bytes);
    if (text === undefined) return this.#failure("invalid-response", "invalid-encoding");
    let attrs;
    try {
      attrs = parseAttributes(text);
    } catch {
      return this.#failure("invalid-response", "invalid-encoding");
    }
    const c = attrs[0];
    const r = attrs[1];
    const p = attrs[attrs.length - 1];
    if (attrs.length < 3 || c?.key !== "c" || r?.key !== "r" || p?.key !== "p") return this.#failure("invalid-response", "invalid-encoding");
    if (attrs.slice(2, -1).some((a) => a.key === "m")) return this.#failure("invalid-response", "extensions-not-supported");

    const cbind = decodeBase64Strict(c.value);
    if (!cbind) return this.#failure("invalid-response", "invalid-encoding");
    if (!constantTimeEqual(cbind, this.#expectedCbind)) return this.#failure("authentication-failed", "channel-bindings-dont-match", "channel-binding");
    if (r.value !== this.#nonce) return this.#failure("authentication-failed", "other-error");
    const proof = decodeBase64Strict(p.value);
    if (!proof || proof.length !== HASHES[this.#hash].length) return this.#failure("invalid-response", "invalid-encoding");

    const keys = this.#keys as ScramStoredKeys;
    const withoutProof = text.slice(0, text.lastIndexOf(",p="));
    const authMessage = `${(this.#first as ClientFirst).bare},${this.#serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(this.#hash, keys.storedKey, authMessage));
    // The same work for a made-up key as for a real one: the timing does not tell them apart.
    const proven = constantTimeEqual(digest(this.#hash, clientKey), keys.storedKey);
    if (!proven || !this.#knownUser) return this.#failure("authentication-failed", "invalid-proof", "credentials");

    const authcid = this.#authcid;
    const authzid = (this.#first as ClientFirst).authzid ?? authcid;
    if (!(await mayActAs(this.#context.callbacks, authcid, authzid))) return this.#failure("authorization-failed", "other-error", "other");
    this.#state = "done";
    return { type: "success", identity: { authcid, authzid }, data: utf8(`v=${encodeBase64(hmac(this.#hash, keys.serverKey, authMessage))}`) };
  }
}

/**
 * Keys for a user the server does not know, shaped like the deployment's: its iteration count and
 * salt length (configured, else the most recent real keys', else 4096 and 16 bytes), a salt that
 * is an HMAC of the hash and name (stable for the same name, unrelated between names), and
 * random stored and server keys that no proof can match.
 */
export function unknownUserKeys(hash: ScramHash, authcid: string, options: ResolvedScramOptions): ScramStoredKeys {
  const recent = recentKeyShape.get(hash);
  const iterations = options.iterations ?? recent?.iterations ?? 4096;
  const saltLength = options.saltLength ?? recent?.saltLength ?? 16;
  const secret = options.unknownUserSecret ?? processUnknownUserSecret;
  // Expand the HMAC in counter mode for salts longer than one digest.
  const blocks: Buffer[] = [];
  for (let i = 0, have = 0; have < saltLength; i++) {
    const block = createHmac("sha256", secret).update(`${hash}\0${i}\0${authcid}`).digest();
    blocks.push(block);
    have += block.length;
  }
  const length = HASHES[hash].length;
  return {
    salt: new Uint8Array(Buffer.concat(blocks).subarray(0, saltLength)),
    iterations,
    storedKey: new Uint8Array(randomBytes(length)),
    serverKey: new Uint8Array(randomBytes(length)),
  };
}
