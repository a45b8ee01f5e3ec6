/**
 * `saslkit(options)`: a nodemailer SMTP transport configuration in, the same configuration out,
 * with saslkit doing the authentication. It adds the customAuth handler, selects it for every
 * login (the transport's `auth` and per-message `auth`), reads what the hook cannot see from the
 * options (host, port, whether TLS is certain, LMTP, the client name) and puts secret masking in
 * front of the logger.
 */
import { hostname } from "node:os";
import { cleartextRefusal, type CredentialPreparation, type MechanismSource, type NegotiationPolicy, type NegotiationRecord } from "@saslkit/core";
import { checkOptions, rules, sharedClientOptions, type OptionSpec } from "@saslkit/transport";
import { assign, getLogger, parseConnectionUrl } from "nodemailer/lib/shared";
import wellKnown from "nodemailer/lib/well-known";
import { createHandler, isLoopbackHost, SASLKIT_METHOD, type HandlerLogger, type TransportTls } from "./auth.js";
import { isLoginWithoutUser, maskingLogger, type BunyanLike } from "./logger.js";
import { Masking } from "./masking.js";

/** What saslkit adds to a nodemailer transport. Every field is optional. */
export interface SaslkitOptions {
  /** Where mechanisms come from: a provider list, a tsyringe container or a registry. Default: tsyringe's root container. */
  readonly mechanisms?: MechanismSource;
  /** force / order / exclude / cleartext (`"loopback"` by default: a secret in clear only to this machine). */
  readonly policy?: NegotiationPolicy;
  /** Per-mechanism options, keyed by package (`{ scram: { ... } }`). */
  readonly mechanismOptions?: Readonly<Record<string, unknown>>;
  /** Authorization identity: act as this user. */
  readonly authzid?: string;
  /**
   * SASLprep (RFC 4013) for the user name and password of PLAIN, LOGIN and CRAM-MD5 (SCRAM always
   * prepares): `"saslprep"` for servers that store prepared credentials; default `"none"`. The same
   * option as @saslkit/smtp's.
   */
  readonly prepare?: CredentialPreparation;
  /** Try the next mechanism after a mechanism-level failure. Default true. */
  readonly fallback?: boolean;
  /** Most mechanisms tried in one login. Default 3. */
  readonly maxAttempts?: number;
  /** Most server challenges in one exchange. Default 10. */
  readonly maxRounds?: number;
  /** Called after every login with what was offered, refused, tried and chosen. */
  readonly onNegotiation?: (record: NegotiationRecord) => void;
}

/** The fields of nodemailer's SMTP (and pool) options saslkit reads or writes. */
export interface NodemailerSmtpOptions {
  host?: string | undefined;
  port?: number | string | undefined;
  secure?: boolean | undefined;
  secured?: boolean | undefined;
  proxy?: unknown;
  getSocket?: unknown;
  socket?: unknown;
  /** A socket the caller opened (with `secured: true`, one already in TLS). */
  connection?: unknown;
  requireTLS?: boolean | undefined;
  ignoreTLS?: boolean | undefined;
  opportunisticTLS?: boolean | undefined;
  lmtp?: boolean | undefined;
  name?: string | undefined;
  service?: string | undefined;
  url?: string | undefined;
  authMethod?: string | undefined;
  auth?: { type?: string | undefined; method?: string | false | undefined; user?: string | undefined; pass?: string | undefined } | undefined;
  customAuth?: Record<string, (ctx: never) => unknown> | undefined;
  forceAuth?: boolean | undefined;
  pool?: unknown;
  socketTimeout?: number | undefined;
  logger?: unknown;
}

const SHARED = sharedClientOptions();
const SETTINGS: OptionSpec = {
  // As the mail clients check them: a mechanism's name or an object that is no source fails here,
  // not at login with a TypeError.
  mechanisms: SHARED.mechanisms!,
  // Core's NegotiationPolicy, checked as the mail clients check it: a string for a list or a
  // misspelt key would otherwise be ignored, a weaker choice than the caller asked for.
  policy: SHARED.policy!,
  mechanismOptions: rules.object({}, { open: true }),
  authzid: rules.text,
  prepare: rules.oneOf("none", "saslprep"),
  fallback: rules.boolean,
  maxAttempts: rules.number({ min: 1, max: 100, integer: true }),
  maxRounds: rules.number({ min: 1, max: 1000, integer: true }),
  onNegotiation: rules.func,
};

/** A configuration error: names the option and what is accepted. */
export class SaslkitOptionError extends TypeError {
  override readonly name = "SaslkitOptionError";
  readonly code = "invalid-option";
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`saslkit(): ${message}`);
  }
}

function validate(settings: SaslkitOptions): void {
  checkOptions(settings, SETTINGS, (problem) => new SaslkitOptionError(problem.option, problem.message));
}

/** nodemailer's default client name (SMTPConnection#_getHostname): the FQDN, else [127.0.0.1]. */
function defaultClientName(): string {
  let name: string;
  try {
    name = hostname() || "";
  } catch {
    name = "localhost";
  }
  if (!name || !name.includes(".")) name = "[127.0.0.1]";
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) name = `[${name}]`;
  return name;
}

/** How TLS is reached, from the options the way SMTPConnection reads them. */
export function transportTls(o: NodemailerSmtpOptions): TransportTls {
  const port = Number(o.port) || (o.secure ? 465 : 587);
  // `secured` says the caller's socket (options.connection) is TLS already; without one nodemailer
  // ignores it and connects in cleartext, so alone it proves nothing.
  if (o.secure === true || (o.secured === true && o.connection != null) || (o.secure === undefined && port === 465)) return "implicit";
  if (o.requireTLS) return "required";
  if (o.ignoreTLS) return "none";
  return "opportunistic";
}

/**
 * Returns `options` with saslkit as nodemailer's authentication:
 * ```ts
 * nodemailer.createTransport(saslkit({ host, port: 587, requireTLS: true, auth: { user, pass } }, { mechanisms: [...scramProviders, plain] }));
 * ```
 * `auth.method` (or `authMethod`), when set to a mechanism name, becomes `policy.force`. When the
 * options leave TLS open (no `secure`, `requireTLS`, `ignoreTLS` or `opportunisticTLS`) and core's
 * `cleartextRefusal(policy.cleartext, ...)` refuses cleartext to the host (by default: any host that is
 * not loopback), `requireTLS: true` is added: saslkit's default, and the only way the hook knows TLS.
 */
export function saslkit<T extends NodemailerSmtpOptions>(options: T, settings: SaslkitOptions = {}): T {
  if (options === null || typeof options !== "object") throw new SaslkitOptionError("options", "The first argument must be nodemailer's SMTP options object (a connection URL goes in its url field).");
  validate(settings);
  // What nodemailer itself will use: options, then url, then the well-known service (SMTPTransport's order).
  const effective = assign(
    false,
    options,
    typeof options.url === "string" ? parseConnectionUrl(options.url) : undefined,
    typeof options.service === "string" ? wellKnown(options.service) || undefined : undefined,
  ) as NodemailerSmtpOptions;
  const auth = effective.auth;
  if (auth && typeof auth.type === "string" && auth.type.toUpperCase() === "OAUTH2") {
    throw new SaslkitOptionError("auth.type", `The option "auth.type" is "OAuth2", nodemailer's own XOAUTH2 flow; saslkit() runs user and password logins (leave saslkit() out for OAuth2).`);
  }
  let policy = settings.policy;
  const named = (typeof auth?.method === "string" && auth.method.trim()) || (typeof effective.authMethod === "string" && effective.authMethod.trim()) || "";
  if (named && named.toUpperCase() !== SASLKIT_METHOD) {
    if (policy?.force !== undefined || policy?.order !== undefined) {
      throw new SaslkitOptionError("auth.method", `The option "auth.method" names ${named} and policy.force or policy.order names mechanisms too; name them in one place.`);
    }
    policy = { ...policy, force: named.toUpperCase() };
  }

  const masking = new Masking();
  if (typeof auth?.pass === "string" && auth.pass) masking.addLasting(auth.pass);
  const scrub = (text: string) => masking.redact(text);
  const userLogger = options.logger;
  const hasLogger = userLogger === true || (userLogger !== null && typeof userLogger === "object");
  const host = effective.host || "localhost";
  // A proxy, getSocket or a socket of the caller's takes the connection where the host option does
  // not say (for a proxy, "127.0.0.1" is the proxy's own machine): only a direct connection counts.
  const loopback = isLoopbackHost(host) && !effective.proxy && !effective.getSocket && !effective.connection && !effective.socket;
  // saslkit's TLS default, the same rule as its clients': without TLS, credentials go only where core's
  // cleartextRefusal allows ("loopback" by default: this machine only; "never": nowhere; "allow":
  // anywhere). Applied as requireTLS when the options leave TLS open; any explicit choice stays.
  const requireTls =
    transportTls(effective) === "opportunistic" &&
    effective.requireTLS === undefined &&
    effective.opportunisticTLS === undefined &&
    cleartextRefusal(policy?.cleartext, { secure: false, loopback }) !== undefined;
  const tls: TransportTls = requireTls ? "required" : transportTls(effective);
  const port = Number(effective.port) || (tls === "implicit" ? 465 : 587);
  // No credentials on the transport (a pool has no per-message auth): per-message credentials must
  // fail against a server whose EHLO lists no AUTH too, which takes forceAuth. nodemailer's verify()
  // with forceAuth and no transport auth fails ENOAUTH, so the transport gets an auth without
  // credentials: verify() and a message without auth then reach the handler, which does no login
  // (nodemailer's "User undefined authenticated" line for them is not written: isLoginWithoutUser).
  const perMessageOnly = !effective.auth && !effective.pool && effective.forceAuth === undefined;
  // Installed without a caller's logger too: it masks nodemailer's errors in place (see logger.ts).
  const logger = maskingLogger(hasLogger ? (userLogger as BunyanLike | true) : undefined, scrub, perMessageOnly ? isLoginWithoutUser : undefined);
  const log = getLogger({ logger: hasLogger ? logger : false }, { component: "saslkit" }) as unknown as HandlerLogger;
  const handler = createHandler({
    mechanisms: settings.mechanisms,
    policy,
    mechanismOptions: settings.mechanismOptions,
    authzid: settings.authzid,
    prepare: settings.prepare,
    fallback: settings.fallback,
    maxAttempts: settings.maxAttempts,
    maxRounds: settings.maxRounds,
    onNegotiation: settings.onNegotiation,
    host,
    port,
    tls,
    loopback,
    perMessageOnly,
    // nodemailer's default socketTimeout (10 minutes) when the options set none.
    replyTimeoutMs: typeof effective.socketTimeout === "number" && effective.socketTimeout > 0 ? effective.socketTimeout : 10 * 60 * 1000,
    hello: `${effective.lmtp ? "LHLO" : "EHLO"} ${(effective.name || defaultClientName()).replace(/[\r\n]+/g, "")}`,
    log,
    masking,
  });
  return {
    ...options,
    ...(requireTls ? { requireTLS: true } : {}),
    // nodemailer skips login when EHLO lists no AUTH and would send the message unauthenticated,
    // reporting success; saslkit's rule (as @saslkit/smtp's) is a no-mechanism error. With
    // credentials on the transport (or in its url), or only per message (see perMessageOnly).
    // An explicit forceAuth stays.
    ...((effective.auth || perMessageOnly) && effective.forceAuth === undefined ? { forceAuth: true } : {}),
    // Per-message auth and URL credentials merge into this: the method stays saslkit's.
    authMethod: SASLKIT_METHOD,
    ...(options.auth ? { auth: { ...options.auth, type: "custom", method: SASLKIT_METHOD } } : {}),
    ...(perMessageOnly ? { auth: { type: "custom", method: SASLKIT_METHOD } } : {}),
    customAuth: { ...options.customAuth, [SASLKIT_METHOD]: handler },
    logger,
  };
}
