/**
 * Open-handle accounting: counts of sockets and timers from `process.getActiveResourcesInfo()`,
 * so a test can assert a client freed what it opened.
 */
const WATCHED = ["TCPSocketWrap", "TCPWrap", "TLSWrap", "Timeout"] as const;

export type HandleCounts = Record<(typeof WATCHED)[number], number>;

export function handleCounts(): HandleCounts {
  const counts = Object.fromEntries(WATCHED.map((k) => [k, 0])) as HandleCounts;
  for (const r of process.getActiveResourcesInfo()) if ((WATCHED as readonly string[]).includes(r)) counts[r as keyof HandleCounts]++;
  return counts;
}

/** Waits a few turns of the event loop until no watched count exceeds `before`; returns the last counts. */
export async function settleHandles(before: HandleCounts, turns = 20): Promise<HandleCounts> {
  let now = handleCounts();
  for (let i = 0; i < turns; i++) {
    if (WATCHED.every((k) => now[k] <= before[k])) return now;
    await new Promise((r) => setTimeout(r, 5));
    now = handleCounts();
  }
  return now;
}

/** The watched kinds whose count grew. */
export function leaked(before: HandleCounts, after: HandleCounts): string[] {
  return WATCHED.filter((k) => after[k] > before[k]).map((k) => `${k} ${before[k]} -> ${after[k]}`);
}
