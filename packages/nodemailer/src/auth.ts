/**
 * The customAuth handler: reads what the server offers, negotiates with saslkit's rules (the
 * strongest usable mechanism, SCRAM first; no secret in clear without TLS), runs the exchange
 * over nodemailer's `sendCommand` and settles nodemailer's login with success or a
 * `SaslkitAuthError`.
 *
 * What the hook is given (nodemailer 10, `SMTPConnection#login`): the auth object with
 * `credentials.user/pass`, the mechanism list filtered to the four nodemailer implements
 * (PLAIN, LOGIN, CRAM-MD5, XOAUTH2: SCRAM never appears there), a few extension names, and
 * `sendCommand`. Not the socket, not the TLS state, not the host. Hence:
 * - the server's full AUTH line comes from one more EHLO (RFC 5321 §4.1.4 allows it; it resets
 *   nothing that matters before MAIL);
 * - whether the channel is TLS comes from the transport options (`secure`, `requireTLS`), which
 *   `saslkit()` reads (and sets `requireTLS` for a remote host), because nodemailer guarantees TLS
 *   only with those two;
 * - channel binding (-PLUS) is impossible: no TLS socket, no binding data.
 */
import {
  authenticate,
  Credentials,
  negotiationRecord,
  planNegotiation,
  SaslError,
  type CredentialPreparation,
  type MechanismSource,
  type NegotiationPolicy,
  type NegotiationRecord,
} from "@saslkit/core";
import { initialResponseFits } from "@saslkit/smtp";
import { Deadline, type Redactor } from "@saslkit/transport";
import { SaslkitAuthError } from "./errors.js";
import { NodemailerSaslExchange, parseReply, replyText, type Reply } from "./exchange.js";
import type { Masking } from "./masking.js";

/** The method name the handler is registered under in `customAuth`. */
export const SASLKIT_METHOD = "SASLKIT";

/**
 * How the transport reaches TLS, as far as the hook can know it:
 * - `"implicit"`: TLS from the first byte (`secure: true`, or port 465 with `secure` unset);
 * - `"required"`: `requireTLS: true`, nodemailer fails rather than authenticate without STARTTLS;
 * - `"opportunistic"`: STARTTLS when offered (`requireTLS: false`, `opportunisticTLS`, or a loopback
 *   host, where `saslkit()` leaves nodemailer's default). The hook cannot see whether it happened, so
 *   it counts the channel as cleartext;
 * - `"none"`: `ignoreTLS: true`.
 */
export type TransportTls = "implicit" | "required" | "opportunistic" | "none";

/** The bunyan-style logger nodemailer uses (`shared.getLogger`). */
export interface HandlerLogger {
  info(entry: Record<string, unknown>, message: string, ...args: unknown[]): void;
  debug(entry: Record<string, unknown>, message: string, ...args: unknown[]): void;
}

/** What nodemailer hands a custom handler (the parts used here). */
export interface CustomAuthContext {
  readonly auth: { readonly credentials?: { readonly user?: string | undefined; readonly pass?: string | undefined } | undefined; readonly user?: string | undefined };
  readonly method: string;
  /** nodemailer's filtered list: PLAIN, LOGIN, CRAM-MD5, XOAUTH2 as offered. */
  readonly authMethods?: readonly string[];
  sendCommand(command: string): Promise<{ readonly response: string }>;
}

export interface HandlerSettings {
  readonly mechanisms: MechanismSource | undefined;
  readonly policy: NegotiationPolicy | undefined;
  readonly mechanismOptions: Readonly<Record<string, unknown>> | undefined;
  readonly authzid: string | undefined;
  readonly prepare: CredentialPreparation | undefined;
  readonly fallback: boolean | undefined;
  readonly maxAttempts: number | undefined;
  readonly maxRounds: number | undefined;
  readonly onNegotiation: ((record: NegotiationRecord) => void) | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly tls: TransportTls;
  /** The host is this machine and the socket goes to it (no proxy, getSocket or socket of the caller's). */
  readonly loopback: boolean;
  /**
   * The transport has no credentials and `saslkit()` gave it forceAuth and an auth without any, so
   * that per-message credentials are always used (a server without AUTH fails them). A login that
   * brings no user and no password is then nodemailer's "no auth" (`verify()`, a message without
   * `auth`): it succeeds with nothing sent, as nodemailer goes on without login there.
   */
  readonly perMessageOnly: boolean;
  /**
   * How long each reply may take (nodemailer's `socketTimeout`). nodemailer's own timer restarts on
   * every byte and it has no deadline for AUTH, so a server dripping a reply would hold the login.
   */
  readonly replyTimeoutMs: number;
  /** The hello command and name the transport uses (LHLO for LMTP). */
  readonly hello: string;
  readonly log: HandlerLogger;
  /** The transport's secret masking, shared with the logger. */
  readonly masking: Masking;
}

const LOOPBACK_V4 = /^127(?:\.\d{1,3}){3}$/;

/** A host that certainly means this machine: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  return h === "localhost" || h === "::1" || LOOPBACK_V4.test(h) || LOOPBACK_V4.test(h.replace(/^::ffff:/, ""));
}

/** The AUTH mechanisms of an EHLO reply (`AUTH X Y`, and the old `AUTH=X Y`). */
export function authMechanisms(reply: Reply): string[] {
  const auth: string[] = [];
  for (const line of reply.lines.slice(1)) {
    const m = /^AUTH(?:[ =](.*))?$/i.exec(line.trim());
    if (m) auth.push(...(m[1] ?? "").split(/[\s=]+/).filter(Boolean));
  }
  return auth;
}

const TLS_HINT: Record<TransportTls, string> = {
  implicit: "",
  required: "",
  opportunistic: " nodemailer's auth hook cannot see whether STARTTLS happened: set requireTLS: true (or secure: true for implicit TLS) so that TLS is certain.",
  none: " The transport sets ignoreTLS: true.",
};

/** A reply that did not come within `replyTimeoutMs`. */
class ReplyTimeout extends Error {
  constructor(ms: number) {
    super(`the server did not answer within socketTimeout (${ms} ms) during authentication.`);
  }
}

/** The text of a login that failed outside SASL: a reply that did not come in time, or the connection. */
function connectionFailure(error: unknown): string {
  return `saslkit: ${error instanceof ReplyTimeout ? error.message : "the connection failed during authentication."}`;
}

const responseOf = (reply: { response: string }): string => reply.response;

/** The customAuth handler for these settings. */
export function createHandler(s: HandlerSettings): (ctx: CustomAuthContext) => Promise<void> {
  return async (ctx) => {
    if (s.perMessageOnly && !ctx.auth.user && !ctx.auth.credentials?.user && ctx.auth.credentials?.pass === undefined) {
      s.log.debug({ tnx: "smtp", action: "no-credentials" }, "saslkit: no credentials on the transport or the message; no login");
      return;
    }
    // This login's secrets: masked in the log while it runs, and in its errors for good.
    const redactor = s.masking.begin();
    try {
      await login(ctx, redactor);
    } finally {
      s.masking.end(redactor);
    }
  };

  async function login(ctx: CustomAuthContext, redactor: Redactor): Promise<void> {
    const scrub = (text: string) => s.masking.redact(redactor.redact(text));
    const user = ctx.auth.credentials?.user ?? ctx.auth.user;
    const pass = ctx.auth.credentials?.pass;
    if (typeof pass === "string") s.masking.addRecent(pass);
    const credentials = Credentials.from({
      ...(user ? { username: user } : {}),
      ...(pass !== undefined ? { password: pass } : {}),
      ...(s.authzid !== undefined ? { authzid: s.authzid } : {}),
    });
    // Every secret reaches the redactor as soon as it is known: the logger and errors read through it.
    credentials.onSecret((value) => redactor.addSecret(value));
    const fail = (message: string, o: Omit<ConstructorParameters<typeof SaslkitAuthError>[1], "scrub">) => new SaslkitAuthError(scrub(message), { ...o, scrub });
    // One deadline per reply: the login fails (and ends its masking) instead of waiting on a server
    // that drips, or on a connection nodemailer already closed (its sendCommand then never settles).
    const send = (line: string) => Deadline.in(s.replyTimeoutMs).bound(ctx.sendCommand(line), () => new ReplyTimeout(s.replyTimeoutMs), { unref: true }).then(responseOf);

    // nodemailer keeps only the mechanisms it implements: ask the server again for its whole list.
    // A server that refuses a second EHLO leaves us nodemailer's list (without SCRAM).
    let helloReply: Reply;
    try {
      helloReply = parseReply(scrub(await send(s.hello)));
    } catch (error) {
      throw fail(connectionFailure(error), { reason: "connection", negotiation: undefined, acceptsReply: false, cause: error });
    }
    let offered: readonly string[];
    if (helloReply.code === 250) offered = authMechanisms(helloReply);
    else if (ctx.authMethods?.length) {
      offered = ctx.authMethods;
      s.log.info({ tnx: "smtp", action: "ehlo-refused", code: helloReply.code }, "saslkit: the server refused a second %s (%s); using nodemailer's list %s", s.hello.split(" ")[0], helloReply.code, offered.join(" "));
    } else {
      throw fail(`saslkit: the server refused ${s.hello.split(" ")[0]} (${helloReply.code} ${replyText(helloReply)}), so its mechanisms are unknown.`, {
        reason: "capabilities",
        negotiation: undefined,
        acceptsReply: false,
      });
    }
    const channel = {
      secure: s.tls === "implicit" || s.tls === "required",
      loopback: s.loopback,
      service: "smtp",
      ...(s.host !== undefined ? { host: s.host } : {}),
      ...(s.port !== undefined ? { port: s.port } : {}),
    };
    const plan = planNegotiation(s.mechanisms, {
      offered,
      credentials,
      channel,
      ...(s.policy ? { policy: s.policy } : {}),
      ...(s.mechanismOptions ? { options: s.mechanismOptions } : {}),
      ...(s.prepare ? { prepare: s.prepare } : {}),
    });
    const report = (record: NegotiationRecord) => {
      s.onNegotiation?.(record);
      return record;
    };

    if (plan.candidates.length === 0) {
      const record = report(negotiationRecord(plan, [], undefined));
      const offered = plan.offered.length ? `the server offers ${plan.offered.join(", ")}` : "the server offers no AUTH mechanism";
      // One clause per reason, the mechanisms it applies to first ("LOGIN, CRAM-MD5: no mechanism package ...").
      const groups = new Map<string, string[]>();
      for (const r of plan.refused) groups.set(r.explanation, [...(groups.get(r.explanation) ?? []), r.mechanism]);
      const why = [...groups].map(([explanation, names]) => `${names.join(", ")}: ${explanation}`).join("; ");
      const cleartext = plan.refused.some((r) => r.reason === "cleartext-password");
      s.log.info({ tnx: "smtp", action: "negotiation-failed", offered: plan.offered, refused: plan.refused.map((r) => `${r.mechanism} ${r.reason}`) }, "saslkit: no usable SASL mechanism");
      const scram = plan.refused.some((r) => r.reason === "not-installed" && r.mechanism.startsWith("SCRAM-"))
        ? " The server offers SCRAM, which never sends the password: install @saslkit/mech-scram and pass its providers."
        : "";
      throw fail(`saslkit: no SASL mechanism can be used; ${offered}${why ? ` (${why})` : ""}; nothing was sent.${cleartext ? TLS_HINT[s.tls] : ""}${scram}`, {
        reason: "no-mechanism",
        negotiation: record,
        acceptsReply: false,
      });
    }

    s.log.debug({ tnx: "smtp", action: "negotiation", offered: plan.offered, candidates: plan.candidates.map((p) => p.name) }, "saslkit: offered %s; plan %s", plan.offered.join(" "), plan.candidates.map((p) => p.name).join(" "));
    const exchange = new NodemailerSaslExchange(
      send,
      (payload) => redactor.addPayload(payload),
      scrub,
    );
    try {
      const result = await authenticate(plan, exchange, {
        ...(s.fallback !== undefined ? { fallback: s.fallback } : {}),
        ...(s.maxAttempts !== undefined ? { maxAttempts: s.maxAttempts } : {}),
        ...(s.maxRounds !== undefined ? { maxRounds: s.maxRounds } : {}),
        // RFC 4954 §4: an initial response that would make the AUTH line exceed 512 octets waits for the empty 334.
        initialResponseFits,
      });
      report(negotiationRecord(plan, result.attempts, result.mechanism));
      s.log.info({ tnx: "smtp", action: "sasl", mechanism: result.mechanism, offered: plan.offered }, "saslkit: authenticated with %s (offered: %s)", result.mechanism, plan.offered.join(" "));
    } catch (error) {
      if (!(error instanceof SaslError)) {
        throw fail(connectionFailure(error), { reason: "connection", negotiation: report(negotiationRecord(plan, [], undefined)), acceptsReply: exchange.authSent && !(error instanceof ReplyTimeout), cause: error });
      }
      const record = report(negotiationRecord(plan, error.attempts, undefined));
      const tried = error.attempts.length > 1 ? ` (tried ${error.attempts.map((a) => a.mechanism).join(", ")})` : "";
      // A server refusal: nodemailer appends the reply itself. A client-side failure: say what it was.
      const message = error.reply ? `saslkit: ${error.mechanism ?? "SASL"} authentication failed${tried}` : `saslkit: ${error.message}${tried}`;
      s.log.info({ tnx: "smtp", action: "sasl-failed", mechanism: error.mechanism, code: error.code }, "saslkit: %s failed (%s)", error.mechanism ?? "SASL", error.code);
      throw fail(message, { reason: "sasl", negotiation: record, mechanism: error.mechanism, acceptsReply: exchange.authSent, cause: error });
    }
  }
}
