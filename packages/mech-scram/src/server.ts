/**
 * The SCRAM server half (RFC 5802 §5), from stored keys: the server never sees the password.
 */
import { createHmac, randomBytes } from "node:crypto";
import { SaslError, constantTimeEqual, mayActAs, utf8 } from "@saslkit/core";
import type { SaslServerMechanism, ServerContext, ServerStep } from "@saslkit/core";
import type { ScramStoredKeys } from "./stored-keys.js";
import { CHANNEL_BINDING_PREFERENCE, canBind } from "./binding.js";
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
import { resolveScramOptions } from "./options.js";
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

// Unknown users get a made-up, stable salt so the server-first message does not reveal whether a user exists.
const fakeSaltSecret = randomBytes(32);

/**
 * The server half of one SCRAM exchange.
 *
 * Keys come from `callbacks.lookupScramKeys(authcid, hash)` (hash `"SHA-1"`, `"SHA-256"` or
 * `"SHA-512"`); create them with `deriveScramKeys`. The user name is SASLprep'd before the lookup.
 * An unknown user runs the exchange on made-up keys and fails at the proof, as a wrong password
 * does, so the exchange does not reveal who exists.
 *
 * Channel binding: the server binds when `context.channel.channelBinding` yields data and
 * `options.scram.channelBinding` is not false. A -PLUS exchange must name a type the server can
 * produce and send matching `c=` data. A client sending GS2 flag `y` to a server that binds is a
 * downgrade (an attacker removed -PLUS from the advertised list) and fails.
 *
 * Outcome: `success` carries the server-final message `v=<ServerSignature>` as its data (the
 * adapter delivers it inline or as a last challenge). `failure.message` is exactly the RFC 5802
 * server-error attribute, `e=<value>` (for example `e=invalid-proof`), which an adapter may send
 * as a last challenge or put in its failure reply. Codes: `invalid-response` for malformed
 * messages, `authentication-failed` for a wrong proof or binding, `authorization-failed` when the
 * authzid is refused.
 */
export class ScramServer implements SaslServerMechanism {
  readonly name: string;
  readonly #hash: ScramHash;
  readonly #plus: boolean;
  readonly #context: ServerContext;
  readonly #nonceOverride: string | undefined;
  #state: ServerState = "initial";
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
    if (this.#state !== "initial") throw new SaslError(this.name, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response: ask for client-first with an empty challenge.
      this.#state = "awaiting-client-first";
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#clientFirst(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    switch (this.#state) {
      case "initial":
        throw new SaslError(this.name, "bad-state", "step() was called before start().");
      case "done":
        throw new SaslError(this.name, "bad-state", "step() was called after the outcome.");
      case "awaiting-client-first":
        return this.#clientFirst(response);
      case "awaiting-client-final":
        return this.#clientFinal(response);
    }
  }

  #failure(code: "invalid-response" | "authentication-failed" | "authorization-failed", error: ScramServerError): ServerStep {
    this.#state = "done";
    return { type: "failure", code, message: `e=${error}` };
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
    const serverBinds = options.channelBinding && canBind(binding);
    let cbData: Uint8Array = new Uint8Array(0);
    if (this.#plus) {
      if (first.flag.kind !== "p") return this.#failure("authentication-failed", "channel-bindings-dont-match");
      if (!serverBinds) return this.#failure("authentication-failed", "channel-binding-not-supported");
      const type = CHANNEL_BINDING_PREFERENCE.find((t) => t === (first.flag as { type: string }).type);
      const data = type && binding?.types.includes(type) ? binding.data(type) : undefined;
      if (!data || data.length === 0) return this.#failure("authentication-failed", "unsupported-channel-binding-type");
      cbData = data;
    } else if (first.flag.kind === "p") {
      // p= is only valid with a -PLUS mechanism name.
      return this.#failure("invalid-response", "invalid-encoding");
    } else if (first.flag.kind === "y" && serverBinds) {
      // The client could bind but saw no -PLUS offered: someone stripped it from the list.
      return this.#failure("authentication-failed", "server-does-support-channel-binding");
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
    } else {
      const salt = createHmac("sha256", fakeSaltSecret).update(`${this.#hash}\0${authcid}`).digest().subarray(0, 16);
      this.#keys = { salt: new Uint8Array(salt), iterations: 4096, storedKey: new Uint8Array(randomBytes(length)), serverKey: new Uint8Array(randomBytes(length)) };
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
    if (!constantTimeEqual(cbind, this.#expectedCbind)) return this.#failure("authentication-failed", "channel-bindings-dont-match");
    if (r.value !== this.#nonce) return this.#failure("authentication-failed", "other-error");
    const proof = decodeBase64Strict(p.value);
    if (!proof || proof.length !== HASHES[this.#hash].length) return this.#failure("invalid-response", "invalid-encoding");

    const keys = this.#keys as ScramStoredKeys;
    const withoutProof = text.slice(0, text.lastIndexOf(",p="));
    const authMessage = `${(this.#first as ClientFirst).bare},${this.#serverFirst},${withoutProof}`;
    const clientKey = xor(proof, hmac(this.#hash, keys.storedKey, authMessage));
    if (!constantTimeEqual(digest(this.#hash, clientKey), keys.storedKey) || !this.#knownUser) return this.#failure("authentication-failed", "invalid-proof");

    const authcid = this.#authcid;
    const authzid = (this.#first as ClientFirst).authzid ?? authcid;
    if (!(await mayActAs(this.#context.callbacks, authcid, authzid))) return this.#failure("authorization-failed", "other-error");
    this.#state = "done";
    return { type: "success", identity: { authcid, authzid }, data: utf8(`v=${encodeBase64(hmac(this.#hash, keys.serverKey, authMessage))}`) };
  }
}
