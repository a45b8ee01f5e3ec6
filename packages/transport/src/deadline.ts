/**
 * An absolute deadline. Every wait in the transport takes one: a server that drips one byte a
 * second cannot extend it, unlike an idle timer that restarts on every byte.
 */
export class Deadline {
  private constructor(
    /** Epoch milliseconds (Date.now() scale) at which the deadline expires. */
    readonly at: number,
  ) {}

  /** A deadline `ms` milliseconds from now. `Infinity` gives a deadline that never expires. */
  static in(ms: number): Deadline {
    return new Deadline(Date.now() + Math.max(0, ms));
  }

  /** A deadline at an absolute epoch time in milliseconds. */
  static at(epochMs: number): Deadline {
    return new Deadline(epochMs);
  }

  /** The earlier of this deadline and one `ms` from now. */
  within(ms: number): Deadline {
    return new Deadline(Math.min(this.at, Date.now() + Math.max(0, ms)));
  }

  /** Milliseconds left, never negative. */
  remaining(): number {
    return Math.max(0, this.at - Date.now());
  }

  expired(): boolean {
    return Date.now() >= this.at;
  }
}
