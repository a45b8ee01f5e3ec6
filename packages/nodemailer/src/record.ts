/**
 * The negotiation record every saslkit adapter reports: what the server offered, what was
 * installed, the plan, every refusal with its reason, every attempt, and the mechanism chosen.
 */
import type { AttemptRecord, Negotiation, Refusal } from "@saslkit/core";

export interface NegotiationRecord {
  /** SASL names the server offered (upper case). */
  readonly offered: readonly string[];
  readonly installed: readonly string[];
  /** The plan, best first. */
  readonly candidates: readonly string[];
  readonly refused: readonly Refusal[];
  /** Every mechanism tried, with its error when it failed. */
  readonly attempts: readonly AttemptRecord[];
  /** The SASL mechanism that succeeded. */
  readonly chosen: string | undefined;
}

export function negotiationRecord(plan: Negotiation, attempts: readonly AttemptRecord[], chosen: string | undefined): NegotiationRecord {
  return { offered: plan.offered, installed: plan.installed, candidates: plan.candidates.map((p) => p.name), refused: plan.refused, attempts, chosen };
}
