/**
 * The session driver: runs mechanisms over an adapter's `SaslExchange`, so adapters only frame.
 *
 * `runExchange` runs one mechanism once: initial response, challenge/response rounds, outcome.
 * It enforces a cap on rounds (a server that loops on `334` ends in `too-many-rounds`) and on
 * challenge size, honours an `AbortSignal`, cancels the exchange on the server (`*`) whenever
 * the client gives up mid-exchange, and turns the adapter's failure events into `SaslError`s that
 * carry the server's reply and the mechanism's own failure detail.
 *
 * `authenticate` runs a negotiation's candidates in order: the best first, the next only when
 * `allowsFallback` says the failure was mechanism-level (and `fallback` is not off), never after
 * a mechanism's first message carried the secret or a later one carried it or a proof of it
 * (`secretUsed`), only to a stronger-or-equal one after "too
 * weak" and never from a channel-bound one to an unbound one (fallback.ts), at most `maxAttempts` mechanisms. A mechanism that says a fresh credential may succeed
 * (`retryWithFreshCredentials`) is retried once with `freshCredentials: true`.
 *
 * Deferred initial response, once for every adapter: when `initialResponseFits` says the
 * initial response does not fit the protocol's command (SMTP's 512-octet AUTH line, IMAP without
 * SASL-IR, POP3's 255 octets), the driver starts the mechanism with no initial response, requires
 * the server's empty challenge (RFC 4422 §5) and sends the response then.
 */
import { SaslError, type AttemptRecord } from "./errors.js";
import { allowsFallback, allowsFallbackTo } from "./fallback.js";
import type { MechanismProvider, SaslExchange, SaslMechanism, ServerEvent } from "./mechanism.js";
import { requireCandidate, type Negotiation } from "./negotiate.js";

export interface SessionLimits {
  /** Most server challenges in one exchange. Default 10 (real mechanisms need 2 or 3; smtplib allows 5). */
  readonly maxRounds?: number;
  /** Largest decoded challenge accepted, in bytes. Default 65536. */
  readonly maxChallengeBytes?: number;
  /** Aborts the exchange: the driver cancels on the server and throws `aborted`. */
  readonly signal?: AbortSignal;
  /**
   * Whether `mechanism`'s initial response can go with the command that starts it. Default: it
   * fits. When false the driver sends `begin(mechanism, null)`, expects an empty challenge and
   * answers it with the response. Adapters feed it their line limit.
   */
  readonly initialResponseFits?: (mechanism: string, response: Uint8Array) => boolean;
}

export interface AuthenticateOptions extends SessionLimits {
  /** Try the next candidate after a mechanism-level failure. Default true. */
  readonly fallback?: boolean;
  /** Most mechanisms tried in one `authenticate` call. Default 3 (servers drop after 3 failures). */
  readonly maxAttempts?: number;
  /** Called before each attempt, e.g. for `saslkit --debug` or logs. */
  readonly onAttempt?: (mechanism: string, attempt: number) => void;
}

export interface AuthenticationResult {
  /** The mechanism that succeeded. */
  readonly mechanism: string;
  /** Challenges answered in the successful exchange. */
  readonly rounds: number;
  /** Every mechanism tried, in order, with the errors of the ones that failed. */
  readonly attempts: readonly AttemptRecord[];
}

const DEFAULT_ROUNDS = 10;
const DEFAULT_CHALLENGE = 65536;

function abortedError(mechanism: string, signal: AbortSignal): SaslError {
  return new SaslError(mechanism, "aborted", "the caller aborted the exchange.", { cause: signal.reason });
}

/** A mechanism's `MaybePromise` that is a promise: awaiting only those saves a turn of the microtask queue per call. */
function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === "function";
}

/** The client gives up mid-exchange: tell the server, then report the client's reason. */
async function giveUp(exchange: SaslExchange, error: SaslError): Promise<never> {
  try {
    await exchange.cancel();
  } catch {
    // The connection may already be gone; the client's reason is the error that matters.
  }
  throw error;
}

/** Runs `mechanism` once over `exchange`. Resolves with the number of rounds; throws `SaslError`. */
export async function runExchange(mechanism: SaslMechanism, exchange: SaslExchange, limits: SessionLimits = {}): Promise<number> {
  // The usual exchange (one message, then the outcome) runs through three awaits; the rarer steps
  // (a deferred initial response, challenges, failures) are the functions below, so the function
  // every session runs stays small for the optimiser.
  const name = mechanism.name;
  const signal = limits.signal;
  if (signal?.aborted) throw abortedError(name, signal);
  // An abort while the mechanism prepares (a password prompt, PBKDF2) is reported as the abort,
  // whatever the mechanism made of the connection going away under it.
  let initial: Uint8Array | null;
  try {
    const started = mechanism.start();
    initial = isPromiseLike(started) ? await started : started;
  } catch (error) {
    throw signal?.aborted ? abortedError(name, signal) : error;
  }
  if (signal?.aborted) throw abortedError(name, signal);
  let event =
    initial !== null && limits.initialResponseFits && !limits.initialResponseFits(name, initial)
      ? await deferredOpening(exchange, name, initial, signal)
      : await exchange.begin(name, initial);
  let rounds = 0;
  for (;;) {
    if (signal?.aborted) return giveUp(exchange, abortedError(name, signal));
    if (event.type === "success") {
      try {
        const finished = mechanism.finish(event.data);
        if (isPromiseLike(finished)) await finished;
      } catch (error) {
        // A mechanism's bug is no proof of the server: fail closed, with a typed error.
        throw error instanceof SaslError ? error : new SaslError(name, "server-verification-failed", "the mechanism failed to check the server's success.", { cause: error });
      }
      if (!mechanism.complete) throw incomplete(name, event);
      return rounds;
    }
    if (event.type !== "challenge") return refused(mechanism, exchange, event);
    rounds++;
    event = await answer(mechanism, exchange, event.data, rounds, limits);
  }
}

/** The response does not fit the command: start without it and answer the server's empty challenge. */
async function deferredOpening(exchange: SaslExchange, name: string, initial: Uint8Array, signal: AbortSignal | undefined): Promise<ServerEvent> {
  const event = await exchange.begin(name, null);
  if (signal?.aborted) return giveUp(exchange, abortedError(name, signal));
  if (event.type !== "challenge") return event;
  if (event.data.length !== 0) {
    return giveUp(exchange, new SaslError(name, "invalid-challenge", `the server sent a ${event.data.length}-byte challenge where an empty one was due for the initial response.`));
  }
  return exchange.respond(initial);
}

/** The server reported success before the mechanism was done (mutual authentication not checked). */
function incomplete(name: string, event: Extract<ServerEvent, { type: "success" }>): SaslError {
  return new SaslError(name, "server-verification-failed", "the server reported success before the exchange was complete.", event.reply ? { reply: event.reply } : {});
}

/** A failure or a malformed challenge: the `SaslError` (after cancelling, for a malformed one). */
function refused(mechanism: SaslMechanism, exchange: SaslExchange, event: Extract<ServerEvent, { type: "failure" | "malformed" }>): Promise<never> {
  const name = mechanism.name;
  if (event.type === "malformed") return giveUp(exchange, new SaslError(name, "invalid-challenge", `the server's challenge could not be decoded (${event.reason}).`));
  const reply = event.reply;
  throw new SaslError(name, event.code, `the server refused: ${reply.status}${reply.enhanced ? ` ${reply.enhanced}` : ""} ${reply.text}`.trimEnd() + ".", {
    reply,
    ...(mechanism.failureDetail ? { detail: mechanism.failureDetail } : {}),
  });
}

/** Answers challenge number `round` (after the limits), resolving with what the server says next. */
async function answer(mechanism: SaslMechanism, exchange: SaslExchange, challenge: Uint8Array, round: number, limits: SessionLimits): Promise<ServerEvent> {
  const name = mechanism.name;
  const maxRounds = limits.maxRounds ?? DEFAULT_ROUNDS;
  const maxBytes = limits.maxChallengeBytes ?? DEFAULT_CHALLENGE;
  if (round > maxRounds) return giveUp(exchange, new SaslError(name, "too-many-rounds", `the server sent more than ${maxRounds} challenges.`));
  if (challenge.length > maxBytes) return giveUp(exchange, new SaslError(name, "challenge-too-large", `a challenge of ${challenge.length} bytes exceeds the limit of ${maxBytes}.`));
  let response: Uint8Array;
  try {
    response = await mechanism.step(challenge);
  } catch (error) {
    const signal = limits.signal;
    if (signal?.aborted) return giveUp(exchange, abortedError(name, signal));
    return giveUp(exchange, error instanceof SaslError ? error : new SaslError(name, "invalid-challenge", "the mechanism failed on the server's challenge.", { cause: error }));
  }
  return exchange.respond(response);
}

/** An exchange that counts the client messages that reached it. */
class CountingExchange implements SaslExchange {
  sent = 0;

  constructor(private readonly inner: SaslExchange) {}

  begin(mechanism: string, initial: Uint8Array | null): Promise<ServerEvent> {
    if (initial !== null) this.sent++;
    return this.inner.begin(mechanism, initial);
  }

  respond(response: Uint8Array): Promise<ServerEvent> {
    this.sent++;
    return this.inner.respond(response);
  }

  cancel(): Promise<ServerEvent> {
    return this.inner.cancel();
  }
}

/**
 * Runs a negotiation's candidates over `exchange` per the fallback policy. Throws the
 * `NoMechanismError` when there is no candidate, else the last attempt's `SaslError`, with every
 * attempt listed in its `attempts`.
 */
export async function authenticate(negotiation: Negotiation, exchange: SaslExchange, options: AuthenticateOptions = {}): Promise<AuthenticationResult> {
  requireCandidate(negotiation);
  const maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  const attempts: AttemptRecord[] = [];
  let lastError: SaslError | undefined;
  let failed: MechanismProvider | undefined;
  // Counts the client messages that reached the adapter in the current attempt.
  const counted = new CountingExchange(exchange);
  const candidates = negotiation.candidates;
  // An indexed loop: for-of wraps every call in the body in an implicit try/finally (iterator closing).
  for (let i = 0; i < candidates.length && attempts.length < maxAttempts; i++) {
    const provider = candidates[i] as MechanismProvider;
    if (lastError && failed && !allowsFallbackTo(lastError, failed, provider)) continue;
    options.onAttempt?.(provider.name, attempts.length + 1);
    let mechanism = provider.createClient(negotiation.context);
    counted.sent = 0;
    try {
      let rounds: number;
      try {
        rounds = await runExchange(mechanism, counted, options);
      } catch (error) {
        if (!(error instanceof SaslError) || !mechanism.retryWithFreshCredentials) throw error;
        mechanism = provider.createClient({ ...negotiation.context, freshCredentials: true });
        rounds = await runExchange(mechanism, counted, options);
      }
      attempts.push({ mechanism: provider.name });
      return { mechanism: provider.name, rounds, attempts };
    } catch (error) {
      if (!(error instanceof SaslError)) throw error;
      if (counted.sent > 0 && (provider.security.secretInFirstMessage || mechanism.secretUsed === true)) error.secretSent = true;
      attempts.push({ mechanism: provider.name, error });
      lastError = error;
      failed = provider;
      if (options.fallback === false || !allowsFallback(error)) break;
    }
  }
  const error = lastError as SaslError;
  error.attempts = attempts;
  throw error;
}
