/**
 * The state machines of one-message mechanisms, written once: the client says everything in a
 * single message and the server decides on it (guest access, identity from the channel, a
 * credential sent once). A mechanism package extends these bases and supplies only what
 * is its own: how the message is built (client) and what it means (server).
 *
 * They are in core because several mechanism packages need them and mechanisms import only core;
 * they know no protocol and no mechanism.
 */
import { SaslError } from "./errors.js";
import type { ClientContext, MaybePromise, SaslMechanism, SaslServerMechanism, ServerContext, ServerStep } from "./mechanism.js";

/** The client half's states: before `start`, message produced, server reported success. */
export type OneMessageClientState = "initial" | "sent" | "done";

/**
 * The client half of a mechanism whose only client message is the initial response and which
 * defines no challenge.
 *
 * - `start()` calls `message(context)` once and returns its bytes (a promise when `message` is
 *   asynchronous): never null, so an empty
 *   message is sent as an EMPTY initial response (SMTP `AUTH X =`). A second call is `bad-state`
 *   ("start() was called twice."); an error thrown by `message` propagates and the state stays
 *   `initial`.
 * - `step()` always throws `bad-state`: "step() was called before start()." before the message,
 *   "the server sent a challenge after the only message." after it.
 * - `finish()` is allowed once, after `start()`; otherwise `bad-state` ("finish() was called
 *   before the message was sent or twice.").
 * - `complete` is true as soon as the message exists.
 *
 * Every error names the subclass's `name`.
 */
export abstract class OneMessageClient implements SaslMechanism {
  abstract readonly name: string;
  readonly #context: ClientContext;
  #state: OneMessageClientState = "initial";
  #starting = false;

  constructor(context: ClientContext) {
    this.#context = context;
  }

  /**
   * Builds the one message from the context, validating it; throw a `SaslError` (code
   * `invalid-credentials-input` or `missing-credentials`) to refuse. Called at most once.
   */
  protected abstract message(context: ClientContext): MaybePromise<Uint8Array>;

  get complete(): boolean {
    return this.#state !== "initial";
  }

  start(): MaybePromise<Uint8Array> {
    if (this.#state !== "initial" || this.#starting) throw new SaslError(this.name, "bad-state", "start() was called twice.");
    const message = this.message(this.#context);
    if (message instanceof Uint8Array) {
      this.#state = "sent";
      return message;
    }
    // An asynchronous message (a credential read on demand): a second start meanwhile is refused.
    this.#starting = true;
    return message.then(
      (bytes) => {
        this.#starting = false;
        this.#state = "sent";
        return bytes;
      },
      (error: unknown) => {
        this.#starting = false;
        throw error;
      },
    );
  }

  step(_challenge: Uint8Array): Uint8Array {
    // The whole message went as the initial response; the mechanism defines no challenge.
    throw new SaslError(this.name, "bad-state", this.#state === "initial" ? "step() was called before start()." : "the server sent a challenge after the only message.");
  }

  finish(_data: Uint8Array | null): void {
    if (this.#state !== "sent") throw new SaslError(this.name, "bad-state", "finish() was called before the message was sent or twice.");
    this.#state = "done";
  }
}

/** The server half's states; `awaiting-answer` follows a final challenge from `evaluate`. */
export type OneMessageServerState = "initial" | "awaiting-message" | "awaiting-answer" | "done";

/** A final outcome: what `answer` must return. */
export type ServerOutcome = Exclude<ServerStep, { readonly type: "challenge" }>;

/**
 * The server half of a mechanism whose client says everything in one message.
 *
 * - `start(initial)`: with an initial response, evaluates it at once; with none (`null`), answers
 *   with an EMPTY challenge that asks for the message, which the next `step` evaluates. A second
 *   `start` is `bad-state` ("start() was called twice.").
 * - `evaluate(message)` is the mechanism's decision. The state is `done` while it runs, so a
 *   reentrant call is `bad-state`, and stays `done` when it throws. It usually returns the outcome.
 *   It may instead return one final challenge (an error message the client must acknowledge): the
 *   client's single answer to it then goes to `answer`, which must end the exchange.
 * - `step` at any other time is `bad-state`: "step() was called before start()." or
 *   "step() was called after the exchange ended.".
 *
 * Errors thrown by callbacks inside `evaluate` / `answer` propagate unchanged.
 */
export abstract class OneMessageServer implements SaslServerMechanism {
  abstract readonly name: string;
  readonly #context: ServerContext;
  #state: OneMessageServerState = "initial";

  constructor(context: ServerContext) {
    this.#context = context;
  }

  /** The context the provider created this exchange with (a getter: instances print no credentials). */
  protected get context(): ServerContext {
    return this.#context;
  }

  /** Decides on the client's message: the outcome, or one final challenge whose answer goes to `answer`. */
  protected abstract evaluate(message: Uint8Array): MaybePromise<ServerStep>;

  /**
   * The client's answer to the final challenge `evaluate` returned. The default refuses it with
   * `invalid-response`; mechanisms whose `evaluate` never challenges never reach it.
   */
  protected answer(_response: Uint8Array): MaybePromise<ServerOutcome> {
    return { type: "failure", code: "invalid-response", message: `${this.name}: the mechanism expects no answer here.` };
  }

  async start(initial: Uint8Array | null): Promise<ServerStep> {
    if (this.#state !== "initial") throw new SaslError(this.name, "bad-state", "start() was called twice.");
    if (initial === null) {
      // No initial response: an empty challenge asks for the message.
      this.#state = "awaiting-message";
      return { type: "challenge", data: new Uint8Array(0) };
    }
    return this.#evaluate(initial);
  }

  async step(response: Uint8Array): Promise<ServerStep> {
    switch (this.#state) {
      case "awaiting-message":
        return this.#evaluate(response);
      case "awaiting-answer":
        this.#state = "done";
        return this.answer(response);
      case "initial":
        throw new SaslError(this.name, "bad-state", "step() was called before start().");
      case "done":
        throw new SaslError(this.name, "bad-state", "step() was called after the exchange ended.");
    }
  }

  async #evaluate(message: Uint8Array): Promise<ServerStep> {
    this.#state = "done";
    const outcome = await this.evaluate(message);
    if (outcome.type === "challenge") this.#state = "awaiting-answer";
    return outcome;
  }
}
