/**
 * XOAUTH2 (Google's and Microsoft's pre-RFC 7628 OAuth 2.0 mechanism; not an RFC):
 * `user=<user>^Aauth=Bearer <token>^A^A`. On failure the server sends a JSON error as a
 * challenge and the client answers with an empty response before the server's final failure.
 * IANA lists XOAUTH2 as obsolete in favour of OAUTHBEARER, which negotiation prefers.
 */
import { SaslError, USERNAME, registerMechanism } from "@saslkit/core";
import type { ClientContext, MechanismProvider } from "@saslkit/core";
import { BearerTokenClient, BearerTokenServer, type BearerTokenMessage } from "./bearer-token.js";
import { TOKEN } from "./credentials.js";
import { B64TOKEN } from "./oauth-error.js";

const NAME = "XOAUTH2";
const SEP = "\x01";
const CONTROL = /[\x00-\x1f\x7f]/;

/**
 * The client half: `start()` validates the user name, fetches the token (a fresh one when
 * `context.freshCredentials` is set) and returns the whole message; a challenge after that is the
 * server's JSON error, answered with an empty response and recorded in `failureDetail`.
 * States, token checks and error handling are `BearerTokenClient` (bearer-token.ts).
 */
export class XOAuth2Client extends BearerTokenClient {
  readonly name = NAME;

  protected override prepare(context: ClientContext): (token: string) => string {
    const { credentials } = context;
    const user = credentials.username ?? "";
    if (user === "") throw new SaslError(NAME, "missing-credentials", "a user name is needed and none was given.");
    if (CONTROL.test(user)) throw new SaslError(NAME, "invalid-credentials-input", "the user name contains control characters.");
    if (credentials.authzid !== undefined && credentials.authzid !== user) {
      throw new SaslError(NAME, "invalid-credentials-input", "XOAUTH2 cannot carry an authorization identity other than the user name.");
    }
    return (token) => `user=${user}${SEP}auth=Bearer ${token}${SEP}${SEP}`;
  }

  protected override abortResponse(): Uint8Array {
    return new Uint8Array(0);
  }
}

const USER = /^user=([^\x00-\x1f\x7f]+)$/;
const AUTH = /^auth=Bearer +(\S+)$/i;

/** Parses the fields of `user=..^Aauth=Bearer ..^A^A` strictly; a string is the reason it was refused. */
function parseClientMessage(parts: readonly string[]): BearerTokenMessage | string {
  if (parts.length !== 4 || parts[2] !== "" || parts[3] !== "") return "the client message is not user=...^Aauth=Bearer ...^A^A.";
  const user = USER.exec(parts[0] ?? "");
  if (!user) return "the client message does not start with a user= pair.";
  const auth = AUTH.exec(parts[1] ?? "");
  if (!auth || !B64TOKEN.test(auth[1] as string)) return "the auth= value is not \"Bearer\" followed by a bearer token.";
  return { user: user[1] as string, token: auth[1] as string };
}

/**
 * The server half. Validates the token with `callbacks.verifyToken(user, token)`. A refused token
 * is answered with the JSON error as a challenge; after the client's (empty) answer the exchange
 * fails with `authentication-failed`. A token whose owner differs from `user=` needs
 * `callbacks.authorize(owner, user)`. Without an initial response (Office 365 style
 * `AUTH XOAUTH2` → `334`) the message is asked for with an empty challenge. States and the
 * verification are `BearerTokenServer` (bearer-token.ts).
 */
export class XOAuth2Server extends BearerTokenServer {
  readonly name = NAME;
  protected override readonly abortDescription = "an empty response";

  protected override parse(fields: readonly string[]): BearerTokenMessage | string {
    return parseClientMessage(fields);
  }

  protected override isAbort(response: Uint8Array): boolean {
    return response.length === 0;
  }
}

/** The XOAUTH2 provider: priority 640 (just below OAUTHBEARER), client-first, needs a user name and a token. */
export const xoauth2: MechanismProvider = {
  name: NAME,
  priority: 640,
  clientFirst: true,
  // A bearer token is replayable by whoever reads it, like a password.
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true },
  needs: [USERNAME, TOKEN],
  serverCallbacks: ["verifyToken", "authorize"],
  createClient: (context) => new XOAuth2Client(context),
  createServer: (context) => new XOAuth2Server(context),
};

/** Registers `xoauth2` in `container` (default: tsyringe's root container). */
export function registerXOAuth2(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(xoauth2, container);
}
