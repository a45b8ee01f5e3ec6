/**
 * The SCRAM client half (RFC 5802, RFC 7677; -PLUS with RFC 5056 channel binding).
 */
import { randomBytes } from "node:crypto";
import { CallGuard, PASSWORD, SaslError, USERNAME, constantTimeEqual, decodeUtf8, utf8 } from "@saslkit/core";
import type { ClientContext, SaslMechanism } from "@saslkit/core";
import { canBind, chooseBinding } from "./binding.js";
import { HASHES, clientKeys, digest, hmac, xor, type ScramHash } from "./keys.js";
import {
  SyntaxProblem,
  decodeBase64Strict,
  encodeBase64,
  escapeSaslname,
  gs2Header,
  isPrintableNonce,
  parseAttributes,
  type Attribute,
  type Gs2Flag,
} from "./messages.js";
import { RFC_MIN_ITERATIONS, resolveScramOptions, type ResolvedScramOptions } from "./options.js";
import { saslprepOrThrow } from "./prep.js";

/** Which SCRAM variant a client or server half runs, and test-only overrides. */
export interface ScramParams {
  readonly hash: ScramHash;
  /** The -PLUS variant: channel binding is required. */
  readonly plus?: boolean;
  /**
   * This side's nonce (client: the whole client nonce; server: the part it appends). Default:
   * random bytes from node:crypto, base64. Only tests set it, to replay RFC vectors.
   */
  readonly nonce?: string;
}

/** The mechanism name for a hash and variant: `SCRAM-SHA-256-PLUS`. */
export function scramName(hash: ScramHash, plus: boolean): string {
  return `SCRAM-${hash}${plus ? "-PLUS" : ""}`;
}

type ClientState = "initial" | "awaiting-server-first" | "awaiting-server-final" | "verified" | "failed";

/** Server error values are shown to users: keep them short and printable. */
function printableServerText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}

/**
 * The client half of one SCRAM exchange.
 *
 * States: `initial` → `start()` sends client-first → `awaiting-server-first` → `step()` answers
 * with client-final → `awaiting-server-final` → the server signature `v=` arrives either as a
 * challenge (`step()`, SMTP style; the response is empty) or as success data (`finish(data)`,
 * IMAP style) → `verified`. `complete` is true only in `verified`: a server that reports success
 * without a valid `v=` fails `finish()` with `server-verification-failed`. Any error moves to
 * `failed`; every later call throws `bad-state`. A call made while another call of the same
 * exchange is still pending (the password read, key derivation) is refused with `bad-state`
 * and changes nothing: the pending call completes as if it had been alone.
 *
 * GS2 flag: `p=<type>` for -PLUS (tls-exporter, then tls-server-end-point, then tls-unique);
 * `y` when this client could bind but the server offered no -PLUS mechanism (so a server that
 * does support binding detects the downgrade); `n` otherwise, and always when
 * `options.scram.channelBinding` is false or the offered list is unknown (empty).
 */
export class ScramClient implements SaslMechanism {
  readonly name: string;
  readonly #hash: ScramHash;
  readonly #plus: boolean;
  readonly #context: ClientContext;
  readonly #options: ResolvedScramOptions;
  readonly #nonceOverride: string | undefined;
  #state: ClientState = "initial";
  #password: string | undefined;
  #clientNonce = "";
  #clientFirstBare = "";
  #cbindInput: Uint8Array = new Uint8Array(0);
  #serverSignature: Uint8Array | undefined;
  #serverFinal: Uint8Array | undefined;
  #failureDetail: Record<string, unknown> | undefined;
  #proofSent = false;
  /** A call's promise is pending: any other call is refused. */
  readonly #calls = new CallGuard();

  constructor(context: ClientContext, params: ScramParams) {
    this.#hash = params.hash;
    this.#plus = params.plus ?? false;
    this.name = scramName(this.#hash, this.#plus);
    this.#context = context;
    this.#options = resolveScramOptions(context.options);
    this.#nonceOverride = params.nonce;
  }

  get complete(): boolean {
    return this.#state === "verified";
  }

  /** True once client-final (the proof) was produced: no failure after it allows a fallback. */
  get secretUsed(): boolean {
    return this.#proofSent;
  }

  /** `{ serverError }` after the server answered with `e=`. */
  get failureDetail(): Readonly<Record<string, unknown>> | undefined {
    return this.#failureDetail;
  }

  async start(): Promise<Uint8Array> {
    this.#calls.check(this.name, "start()");
    if (this.#state !== "initial") throw this.#fail("bad-state", "start() was called twice.");
    try {
      return await this.#calls.hold(() => this.#clientFirst());
    } catch (error) {
      this.#state = "failed";
      throw error;
    }
  }

  async step(challenge: Uint8Array): Promise<Uint8Array> {
    this.#calls.check(this.name, "step()");
    return this.#calls.hold(async () => {
      switch (this.#state) {
        case "initial":
          throw this.#fail("bad-state", "step() was called before start().");
        case "verified":
          throw this.#fail("bad-state", "step() was called after the exchange completed.");
        case "failed":
          throw this.#fail("bad-state", "step() was called after the exchange failed.");
        case "awaiting-server-first":
          return await this.#guard(() => this.#clientFinal(challenge));
        case "awaiting-server-final":
          return await this.#guard(async () => {
            this.#verifyServerFinal(challenge);
            return new Uint8Array(0);
          });
      }
    });
  }

  async finish(data: Uint8Array | null): Promise<void> {
    this.#calls.check(this.name, "finish()");
    if (this.#state === "verified") {
      // SMTP style: v= came as the last challenge. Accept no data or the same server-final again.
      if (data === null || data.length === 0 || (this.#serverFinal && constantTimeEqual(data, this.#serverFinal))) return;
      throw this.#fail("bad-state", "the server sent success data after the exchange had already completed.");
    }
    if (this.#state === "awaiting-server-final" && data !== null && data.length > 0) {
      await this.#guard(async () => this.#verifyServerFinal(data));
      return;
    }
    if (this.#state === "failed") throw this.#fail("bad-state", "finish() was called after the exchange failed.");
    throw this.#fail("server-verification-failed", "the server reported success without proving it knows the password (no server signature v= was received).");
  }

  #fail(code: "bad-state" | "server-verification-failed", message: string): SaslError {
    this.#state = "failed";
    this.#password = undefined;
    return new SaslError(this.name, code, message);
  }

  async #guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      this.#state = "failed";
      this.#password = undefined;
      throw error instanceof SaslError ? error : new SaslError(this.name, "invalid-challenge", "the exchange failed unexpectedly.", { cause: error });
    }
  }

  async #clientFirst(): Promise<Uint8Array> {
    const credentials = this.#context.credentials;
    if (!credentials.has(USERNAME)) throw new SaslError(this.name, "missing-credentials", "a user name is required.");
    if (!credentials.has(PASSWORD)) throw new SaslError(this.name, "missing-credentials", "a password is required.");
    const username = saslprepOrThrow(credentials.username as string, "the user name", this.name);
    const password = await credentials.get(PASSWORD);
    if (password === undefined) throw new SaslError(this.name, "missing-credentials", "a password is required.");
    this.#password = saslprepOrThrow(password, "the password", this.name);

    const binding = this.#context.channel.channelBinding;
    let flag: Gs2Flag;
    let cbData: Uint8Array = new Uint8Array(0);
    if (this.#plus) {
      const chosen = this.#options.channelBinding ? chooseBinding(binding, this.#options.channelBindingTypes) : undefined;
      if (!chosen) {
        throw new SaslError(
          this.name,
          "policy-refused",
          this.#options.channelBinding
            ? `this connection cannot produce ${this.#options.channelBindingTypes.join(" or ") || "any known type of"} channel-binding data (options.scram.channelBinding).`
            : "channel binding is turned off (options.scram.channelBinding is false).",
        );
      }
      flag = { kind: "p", type: chosen.type };
      cbData = chosen.data;
    } else {
      const offered = this.#context.offered;
      const serverOffersPlus = offered.some((m) => m.toUpperCase().endsWith("-PLUS"));
      flag = this.#options.channelBinding && canBind(binding, this.#options.channelBindingTypes) && offered.length > 0 && !serverOffersPlus ? { kind: "y" } : { kind: "n" };
    }

    const nonce = this.#nonceOverride ?? randomBytes(24).toString("base64");
    if (!isPrintableNonce(nonce)) throw new SaslError(this.name, "invalid-credentials-input", "the configured client nonce is not printable ASCII without commas.");
    this.#clientNonce = nonce;
    const header = gs2Header(flag, credentials.authzid);
    this.#clientFirstBare = `n=${escapeSaslname(username)},r=${nonce}`;
    const headerBytes = utf8(header);
    this.#cbindInput = new Uint8Array(headerBytes.length + cbData.length);
    this.#cbindInput.set(headerBytes);
    this.#cbindInput.set(cbData, headerBytes.length);
    this.#state = "awaiting-server-first";
    return utf8(header + this.#clientFirstBare);
  }

  #attributes(text: string, what: string, code: "invalid-challenge" | "server-verification-failed"): Attribute[] {
    if (text.startsWith("e=")) this.#serverError(text);
    try {
      return parseAttributes(text);
    } catch (error) {
      if (error instanceof SyntaxProblem) throw new SaslError(this.name, code, `${what} is malformed: ${error.message}.`);
      throw error;
    }
  }

  #serverError(text: string): never {
    const value = printableServerText(text.slice(2).split(",")[0] ?? "");
    this.#failureDetail = { serverError: value };
    throw new SaslError(this.name, "server-error", `the server reported the error "${value}".`, { detail: { serverError: value } });
  }

  async #clientFinal(challenge: Uint8Array): Promise<Uint8Array> {
    const invalid = (message: string) => new SaslError(this.name, "invalid-challenge", message);
    const serverFirst = decodeUtf8(challenge, this.name, "the server-first message");
    if (serverFirst === "") throw invalid("the server-first message is empty.");
    const attrs = this.#attributes(serverFirst, "the server-first message", "invalid-challenge");
    if (attrs[0]?.key === "m") throw invalid("the server requires an unsupported mandatory extension (m=).");
    const find = (key: string) => attrs.findIndex((a) => a.key === key);
    const [ri, si, ii] = [find("r"), find("s"), find("i")];
    if (ri < 0) throw invalid("the server-first message has no nonce (r=).");
    if (si < 0) throw invalid("the server-first message has no salt (s=).");
    if (ii < 0) throw invalid("the server-first message has no iteration count (i=).");
    if (ri !== 0 || si !== 1 || ii !== 2) throw invalid("the server-first message does not list r=, s= and i= in that order.");

    const serverNonce = (attrs[0] as Attribute).value;
    if (!isPrintableNonce(serverNonce)) throw invalid("the server nonce holds characters outside printable ASCII.");
    if (!serverNonce.startsWith(this.#clientNonce) || serverNonce.length <= this.#clientNonce.length) {
      // Not a parse problem: a replayed or forged server-first. No fallback may follow it.
      throw new SaslError(this.name, "server-verification-failed", "the server nonce does not extend the client nonce.");
    }
    const salt = decodeBase64Strict((attrs[1] as Attribute).value);
    if (!salt) throw invalid("the salt (s=) is not valid base64.");
    const iterationText = (attrs[2] as Attribute).value;
    if (!/^[1-9][0-9]{0,15}$/.test(iterationText)) throw invalid("the iteration count (i=) is not a positive integer.");
    const iterations = Number(iterationText);
    const { maxIterations, minIterations } = this.#options;
    if (iterations > maxIterations) {
      // policy-refused, not invalid-challenge: a hostile count must not push the client to a weaker mechanism.
      throw new SaslError(this.name, "policy-refused", `the server asks for ${iterations} iterations, above the ceiling of ${maxIterations} (options.scram.maxIterations).`);
    }
    if (iterations < minIterations) {
      throw new SaslError(this.name, "policy-refused", `the server asks for only ${iterations} iterations, below the floor of ${minIterations} (options.scram.minIterations).`);
    }
    if (iterations < RFC_MIN_ITERATIONS) {
      this.#options.onWarning?.(`${this.name}: the server uses only ${iterations} iterations, below the ${RFC_MIN_ITERATIONS} RFC 7677 recommends.`);
    }

    const password = this.#password as string;
    this.#password = undefined;
    const { clientKey, serverKey } = await clientKeys(this.#hash, password, salt, iterations, this.#options.cache);
    const withoutProof = `c=${encodeBase64(this.#cbindInput)},r=${serverNonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(this.#hash, digest(this.#hash, clientKey), authMessage);
    this.#serverSignature = hmac(this.#hash, serverKey, authMessage);
    this.#state = "awaiting-server-final";
    this.#proofSent = true;
    return utf8(`${withoutProof},p=${encodeBase64(xor(clientKey, clientSignature))}`);
  }

  #verifyServerFinal(data: Uint8Array): void {
    const failed = (message: string) => new SaslError(this.name, "server-verification-failed", message);
    let text: string;
    try {
      text = decodeUtf8(data, this.name, "the server-final message");
    } catch {
      throw failed("the server-final message is not valid UTF-8.");
    }
    const attrs = this.#attributes(text, "the server-final message", "server-verification-failed");
    const v = attrs[0];
    if (!v || v.key !== "v") throw failed("the server-final message has no server signature (v=).");
    const signature = decodeBase64Strict(v.value);
    if (!signature) throw failed("the server signature (v=) is not valid base64.");
    if (signature.length !== HASHES[this.#hash].length) throw failed(`the server signature (v=) is ${signature.length} bytes, not ${HASHES[this.#hash].length}.`);
    if (!constantTimeEqual(signature, this.#serverSignature as Uint8Array)) throw failed("the server signature (v=) is wrong: the server does not know the password.");
    this.#serverFinal = data.slice();
    this.#state = "verified";
  }
}
