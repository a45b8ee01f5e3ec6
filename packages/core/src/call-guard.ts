/**
 * One call at a time on one exchange, the rule `SaslMechanism` states (mechanism.ts), written
 * once for the mechanisms whose calls await (a credential read on demand, a key derivation, a
 * server callback). A mechanism holds one `CallGuard` per exchange, calls `check` at the top of
 * each method, and runs the part that awaits through `hold`. A call made meanwhile is refused
 * with `bad-state` and changes nothing; the pending call completes as if it had been alone, so
 * no message is produced twice.
 */
import { SaslError } from "./errors.js";

export class CallGuard {
  #busy = false;

  /** Throws `bad-state`, naming `mechanism` and `call` (`"step()"`), while another call of the exchange is still running. */
  check(mechanism: string, call: string): void {
    if (this.#busy) throw new SaslError(mechanism, "bad-state", `${call} was called while another call of this exchange was still running.`);
  }

  /** True while a call is running: for a method that refuses an overlap in its own words ("start() was called twice."). */
  get busy(): boolean {
    return this.#busy;
  }

  /** Runs `work` with the exchange marked busy until it settles; its result or error passes through. */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.#busy = true;
    try {
      return await work();
    } finally {
      this.#busy = false;
    }
  }
}
