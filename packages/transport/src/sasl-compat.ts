/**
 * The few core names the mail session uses, in one place: the cleartext rule, the negotiation
 * record and the credential accessors. Internal.
 */
import { Credentials, type AttemptRecord, type ChannelInfo, type CleartextPolicy, type Negotiation } from "@saslkit/core";

/** See core's `cleartextRefusal`: undefined when a secret may cross `channel` in clear. */
export function cleartextRefusal(policy: CleartextPolicy | undefined, channel: Pick<ChannelInfo, "secure" | "loopback">): string | undefined {
  if (channel.secure) return undefined;
  const cleartext = policy ?? "loopback";
  if (cleartext === "allow" || (cleartext === "loopback" && channel.loopback === true)) return undefined;
  return `the channel is not TLS${cleartext === "never" ? " (strict policy)" : " to a non-loopback host"}`;
}

export interface NegotiationRecord {
  readonly offered: readonly string[];
  readonly installed: readonly string[];
  readonly candidates: readonly string[];
  readonly refused: Negotiation["refused"];
  readonly attempts: readonly AttemptRecord[];
  readonly chosen: string | undefined;
  readonly login?: { readonly command: "LOGIN" | "USER" | "APOP"; readonly ok: boolean };
}

export function negotiationRecord(plan: Pick<Negotiation, "offered" | "installed" | "candidates" | "refused">, attempts: readonly AttemptRecord[] = [], chosen?: string): NegotiationRecord {
  return { offered: [...plan.offered], installed: [...plan.installed], candidates: plan.candidates.map((p) => p.name), refused: [...plan.refused], attempts: [...attempts], chosen };
}

export function hasPassword(credentials: Credentials): boolean {
  return credentials.has("password");
}

export function hasUsername(credentials: Credentials): boolean {
  return credentials.has("username");
}

export async function passwordOf(credentials: Credentials): Promise<string | undefined> {
  return credentials.password();
}

/** Hands every secret of `credentials` to `add` as soon as it is known. */
export async function watchSecrets(credentials: Credentials, add: (secret: string) => void): Promise<void> {
  if (credentials.has("password")) {
    const p = await credentials.password();
    if (p) add(p);
  }
  if (credentials.has("token")) {
    const t = await credentials.token();
    if (t) add(t);
  }
}
