/**
 * OAUTHBEARER (RFC 7628): an OAuth 2.0 bearer token sent in a GS2-headed list of 0x01-separated
 * key/value pairs. One client message; on failure the server sends a JSON error as a challenge and
 * the client answers with a single 0x01 (§3.2.3) before the server's final failure.
 */
import { SaslError, registerMechanism } from "@saslkit/core";
import type { ClientContext, MechanismProvider } from "@saslkit/core";
import { BearerTokenClient, BearerTokenServer, type BearerTokenMessage } from "./bearer-token.js";
import { TOKEN } from "./credentials.js";
import { B64TOKEN } from "./oauth-error.js";

const NAME = "OAUTHBEARER";
const SEP = "\x01";
const CONTROL = /[\x00-\x1f\x7f]/;

/** GS2 saslname escaping (RFC 5801 §4): `=` → `=3D`, `,` → `=2C`. */
function encodeSaslName(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

/** Reverses `encodeSaslName`; undefined when an `=` starts anything but `=2C` / `=3D`. */
function decodeSaslName(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replace(/=2C/g, ",").replace(/=3D/g, "=");
}

/**
 * The client half: `start()` validates the user, host and port, fetches the token (a fresh one
 * when `context.freshCredentials` is set) and returns the whole GS2-headed message; a challenge after
 * that is the server's JSON error, answered with the 0x01 abort and recorded in `failureDetail`.
 * States, token checks and error handling are `BearerTokenClient` (bearer-token.ts).
 */
export class OAuthBearerClient extends BearerTokenClient {
  readonly name = NAME;

  protected override prepare(context: ClientContext): (token: string) => string {
    const { credentials, channel } = context;
    const user = credentials.authzid ?? credentials.username ?? "";
    if (CONTROL.test(user)) throw new SaslError(NAME, "invalid-credentials-input", "the user name contains control characters.");
    const host = channel.host;
    if (host !== undefined && (host === "" || CONTROL.test(host))) {
      throw new SaslError(NAME, "invalid-credentials-input", "the server host name is empty or contains control characters.");
    }
    const port = channel.port;
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new SaslError(NAME, "invalid-credentials-input", "the server port is not an integer from 0 to 65535.");
    }
    return (token) => {
      let message = `n,${user ? `a=${encodeSaslName(user)}` : ""},${SEP}`;
      if (host !== undefined) message += `host=${host}${SEP}`;
      if (port !== undefined) message += `port=${port}${SEP}`;
      return message + `auth=Bearer ${token}${SEP}${SEP}`;
    };
  }

  protected override abortResponse(): Uint8Array {
    return Uint8Array.of(0x01);
  }
}

const KVPAIR = /^([A-Za-z]+)=([\x21-\x7e \t\r\n]*)$/;
const AUTH_VALUE = /^Bearer +(\S+)$/i;

/** Parses the client message's 0x01-separated fields strictly (RFC 7628 §3.1); a string is the reason it was refused. */
function parseClientMessage(parts: readonly string[]): BearerTokenMessage | string {
  if (parts.length < 3 || parts[parts.length - 1] !== "" || parts[parts.length - 2] !== "") {
    return "the client message does not end with two 0x01 separators.";
  }
  const header = /^(n|y|p=[^,]*),(?:a=([^,]*))?,$/.exec(parts[0] ?? "");
  if (!header) return "the client message does not start with a GS2 header such as n,a=user,.";
  if (header[1]?.startsWith("p=")) return "OAUTHBEARER does not support channel binding (gs2 flag p).";
  const authzid = header[2] === undefined ? "" : decodeSaslName(header[2]);
  if (authzid === undefined) return "the authorization identity in a= has an invalid = escape.";
  if (header[2] !== undefined && authzid === "") return "the authorization identity in a= is empty.";
  const pairs = new Map<string, string>();
  for (const pair of parts.slice(1, -2)) {
    const kv = KVPAIR.exec(pair);
    if (!kv) return "a key/value pair in the client message is malformed.";
    const key = kv[1] as string;
    if (pairs.has(key)) return `the key "${key}" appears twice in the client message.`;
    pairs.set(key, kv[2] as string);
  }
  const auth = pairs.get("auth");
  if (auth === undefined) return "the client message has no auth= pair.";
  const bearer = AUTH_VALUE.exec(auth);
  if (!bearer || !B64TOKEN.test(bearer[1] as string)) return "the auth= value is not \"Bearer\" followed by a bearer token.";
  // The a= identity is who the client asks to be: verifyToken gets it as the user.
  return { user: authzid, token: bearer[1] as string };
}

/**
 * The server half. Validates the token with `callbacks.verifyToken(user, token)`, where `user`
 * is the `a=` identity ("" when none). A refused token is answered with the RFC 7628 JSON error
 * as a challenge; after the client's 0x01 the exchange fails with `authentication-failed`.
 * The `openid-configuration` member comes from `options.oauth.openidConfiguration` when set.
 * States and the verification are `BearerTokenServer` (bearer-token.ts).
 */
export class OAuthBearerServer extends BearerTokenServer {
  readonly name = NAME;
  protected override readonly abortDescription = "0x01";

  protected override parse(fields: readonly string[]): BearerTokenMessage | string {
    return parseClientMessage(fields);
  }

  protected override isAbort(response: Uint8Array): boolean {
    return response.length === 1 && response[0] === 0x01;
  }

  protected override openidConfiguration(): string | undefined {
    const oauth = this.context.options["oauth"] as { readonly openidConfiguration?: unknown } | undefined;
    return typeof oauth?.openidConfiguration === "string" ? oauth.openidConfiguration : undefined;
  }
}

/** The OAUTHBEARER provider: priority 650, client-first, needs a token (a user name is optional). */
export const oauthBearer: MechanismProvider = {
  name: NAME,
  priority: 650,
  clientFirst: true,
  // A bearer token is replayable by whoever reads it, like a password.
  security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true },
  needs: [TOKEN],
  serverCallbacks: ["verifyToken", "authorize"],
  createClient: (context) => new OAuthBearerClient(context),
  createServer: (context) => new OAuthBearerServer(context),
};

/** Registers `oauthBearer` in `container` (default: tsyringe's root container). */
export function registerOAuthBearer(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(oauthBearer, container);
}
