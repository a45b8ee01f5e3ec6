/**
 * ANONYMOUS (RFC 4505): guest access. The client's only message is optional trace information
 * (an e-mail address or an opaque string) that the server may log; it proves nothing.
 */
import { OneMessageClient, OneMessageServer, SaslError, defineCredential, hasLoneSurrogate, registerMechanism, utf8 } from "@saslkit/core";
import type { ClientContext, CredentialKey, MaybePromise, MechanismProvider, ServerStep } from "@saslkit/core";

/**
 * ANONYMOUS trace information (RFC 4505): an e-mail address or opaque string the server may log.
 * Declared not secret: it identifies nobody and proves nothing, so it is printed like a user
 * name and does not count as a credential (`Credentials.isEmpty` stays true with only a trace).
 */
export const TRACE: CredentialKey<string> = defineCredential("trace", { secret: false });

declare module "@saslkit/core" {
  interface CredentialsInput {
    /** ANONYMOUS trace information (RFC 4505): an e-mail address or opaque string. */
    readonly trace?: string;
  }
  interface ServerCallbacks {
    /** Accept an ANONYMOUS login with this trace string. Default: refuse. */
    acceptAnonymous?(trace: string): MaybePromise<boolean>;
  }
}

const NAME = "ANONYMOUS";
/** RFC 4505 §2: the trace is at most 255 UTF-8 characters (not octets). */
export const MAX_TRACE_CHARACTERS = 255;

const characters = (text: string): number => [...text].length;

/**
 * The client half: one message, the `trace` credential as UTF-8 (empty when none, sent as an EMPTY
 * initial response, never null). A trace over 255 characters is refused with
 * `invalid-credentials-input`. States and call-order errors are core's `OneMessageClient`.
 */
export class AnonymousClient extends OneMessageClient {
  readonly name = NAME;

  protected override async message(context: ClientContext): Promise<Uint8Array> {
    const trace = (await context.credentials.get(TRACE)) ?? "";
    if (characters(trace) > MAX_TRACE_CHARACTERS) {
      throw new SaslError(NAME, "invalid-credentials-input", `the trace has ${characters(trace)} characters; RFC 4505 allows at most ${MAX_TRACE_CHARACTERS}.`);
    }
    if (hasLoneSurrogate(trace)) throw new SaslError(NAME, "invalid-credentials-input", "the trace is not a well-formed Unicode string.");
    return utf8(trace);
  }
}

/**
 * The server half. Admits the client only when `callbacks.acceptAnonymous(trace)` says so
 * (default: refuse); the identity is then `anonymous`. States and call-order errors are core's
 * `OneMessageServer`.
 */
export class AnonymousServer extends OneMessageServer {
  readonly name = NAME;

  protected override async evaluate(bytes: Uint8Array): Promise<ServerStep> {
    let trace: string;
    try {
      trace = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
    } catch {
      return { type: "failure", code: "invalid-response", message: "ANONYMOUS: the trace is not valid UTF-8." };
    }
    if (characters(trace) > MAX_TRACE_CHARACTERS) {
      return { type: "failure", code: "invalid-response", message: `ANONYMOUS: the trace is longer than ${MAX_TRACE_CHARACTERS} characters.` };
    }
    const callbacks = this.context.callbacks;
    if (!callbacks.acceptAnonymous || !(await callbacks.acceptAnonymous(trace))) return { type: "failure", code: "authentication-failed", message: "ANONYMOUS: anonymous access is not allowed." };
    return { type: "success", identity: { authcid: "anonymous", authzid: "anonymous" } };
  }
}

/**
 * The ANONYMOUS provider: priority 50 (last), client-first, needs nothing, and usable only when
 * the caller gave no identifying credential, so a typo in a password never silently becomes guest
 * access.
 */
export const anonymous: MechanismProvider = {
  name: NAME,
  priority: 50,
  clientFirst: true,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
  needs: [],
  serverCallbacks: ["acceptAnonymous"],
  usable: (context) => (context.credentials.isEmpty ? undefined : "ANONYMOUS is used only when no credentials are given"),
  createClient: (context) => new AnonymousClient(context),
  createServer: (context) => new AnonymousServer(context),
};

/** Registers `anonymous` in `container` (default: tsyringe's root container). */
export function registerAnonymous(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(anonymous, container);
}
