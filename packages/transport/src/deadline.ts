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
  /**
   * `promise`, or a rejection with `expired()` once this deadline passes first: for a wait on code
   * the caller does not drive (an application's callback, another library's command). The timer
   * is cancelled when `promise` settles; it is unref'd only if `unref` is set.
   */
  bound<T>(promise: Promise<T>, expired: () => unknown, options: { unref?: boolean } = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cancel = this.onExpiry(() => reject(expired()), options);
      promise.then(
        (value) => {
          cancel();
          resolve(value);
        },
        (error: unknown) => {
          cancel();
          reject(error);
        },
      );
    });
  }

}

/**
 * A deadline being watched (`watchDeadline`); pass it to `unwatchDeadline` when the wait ends.
 */
export interface DeadlineWatch {
  readonly at: number;
  readonly fire: () => void;
}

/*
 * One timer for the whole process behind every watched deadline. A wait adds an entry and
 * removes it when it ends; the timer is set again only when a new entry is due before it fires.
 * A setTimeout/clearTimeout pair per wait costs more than it looks: each delay in milliseconds is
 * a timer list of its own, created and torn down around every connection. Unref'd: a wait is on
 * a socket that is connecting, reading or writing, and that keeps the process alive.
 */
const watches = new Set<DeadlineWatch>();
let watchTimer: NodeJS.Timeout | undefined;
let watchTimerAt = Infinity;

function armWatchTimer(at: number): void {
  if (watchTimer !== undefined) clearTimeout(watchTimer);
  const delay = timerDelay(at - Date.now() + 1);
  watchTimerAt = Date.now() + delay;
  watchTimer = setTimeout(fireWatches, delay).unref();
}

function fireWatches(): void {
  watchTimer = undefined;
  watchTimerAt = Infinity;
  const now = Date.now();
  const due: DeadlineWatch[] = [];
  for (const w of watches) if (w.at <= now) due.push(w);
  for (const w of due) watches.delete(w);
  for (const w of due) {
    try {
      w.fire();
    } catch {
      // A waiter's failure must not stop the others from being told.
    }
  }
  // Always from the earliest left: a fire that watched a later deadline (a socket's next wait) set
  // the timer for that one, and a deadline due before it must not wait for it.
  if (watches.size !== 0) {
    let next = Infinity;
    for (const w of watches) if (w.at < next) next = w.at;
    if (next + 1 < watchTimerAt) armWatchTimer(next);
  }
}

/**
 * Calls `fire` once the epoch time `at` has passed (never for `Infinity`), on the process's one
 * deadline timer; `fire` must not throw. Returns the watch, for `unwatchDeadline`.
 */
export function watchDeadline(at: number, fire: () => void): DeadlineWatch | undefined {
  if (at === Infinity) return undefined;
  const watch: DeadlineWatch = { at, fire };
  watches.add(watch);
  if (at + 1 < watchTimerAt) armWatchTimer(at);
  return watch;
}

/** Stops watching (the wait ended); the shared timer is left as it is. */
export function unwatchDeadline(watch: DeadlineWatch | undefined): void {
  if (watch !== undefined) watches.delete(watch);
}
