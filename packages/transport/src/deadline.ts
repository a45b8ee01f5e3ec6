/**
 * An absolute deadline. Every wait in the transport takes one: a server that drips one byte a
 * second cannot extend it, unlike an idle timer that restarts on every byte.
 *
 * Node's `setTimeout` fires after 1 ms when given more than 2^31 - 1 ms (or `Infinity`), so a
 * "never" or a 30-day timeout would expire at once. `Deadline.in` takes any non-negative number,
 * `Infinity` included, and `onExpiry` clamps each timer to that maximum and re-arms it until the
 * deadline is really reached.
 */

/** setTimeout's largest delay; longer waits re-arm when it fires. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay setTimeout honours: `ms` clamped to [0, MAX_TIMER_MS] (NaN counts as 0). */
export function timerDelay(ms: number): number {
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms > 0 ? ms : 0;
}

export class Deadline {
  private constructor(
    /** Epoch milliseconds (Date.now() scale) at which the deadline expires; Infinity for never. */
    readonly at: number,
  ) {}

  /** A deadline `ms` milliseconds from now. `Infinity` gives a deadline that never expires. */
  static in(ms: number): Deadline {
    return new Deadline(Date.now() + (ms > 0 ? ms : 0));
  }

  /** A deadline at an absolute epoch time in milliseconds. */
  static at(epochMs: number): Deadline {
    return new Deadline(epochMs);
  }

  /** A deadline that never expires. */
  static never(): Deadline {
    return new Deadline(Infinity);
  }

  /** The earlier of this deadline and one `ms` from now. */
  within(ms: number): Deadline {
    return new Deadline(Math.min(this.at, Date.now() + (ms > 0 ? ms : 0)));
  }

  /** The earlier of two deadlines. */
  min(other: Deadline | undefined): Deadline {
    return other === undefined || this.at <= other.at ? this : other;
  }

  /** Milliseconds left, never negative (Infinity for a deadline that never expires). */
  remaining(): number {
    return Math.max(0, this.at - Date.now());
  }

  expired(): boolean {
    return Date.now() >= this.at;
  }

  /**
   * Calls `fn` once the deadline has passed (never for `Infinity`). The timer is unref'd only if
   * `unref` is set. Returns the function that cancels it.
   */
  onExpiry(fn: () => void, options: { unref?: boolean } = {}): () => void {
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      const left = this.at - Date.now();
      if (left <= 0) {
        timer = undefined;
        fn();
        return;
      }
      if (left === Infinity) return;
      timer = setTimeout(arm, timerDelay(left + 1));
      if (options.unref) timer.unref();
    };
    arm();
    return () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
  }
}
