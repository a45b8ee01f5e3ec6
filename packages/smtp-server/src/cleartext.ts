/**
 * TEMPORARY: the cleartext rule, with the signature core's `cleartextRefusal` will export. Removed
 * once core's lands on main; the server then imports it from @saslkit/core.
 */
import type { ChannelInfo, CleartextPolicy } from "@saslkit/core";

export function cleartextRefusal(policy: CleartextPolicy | undefined, channel: ChannelInfo): string | undefined {
  if (channel.secure) return undefined;
  const p = policy ?? "loopback";
  if (p === "allow") return undefined;
  if (p === "loopback" && channel.loopback === true) return undefined;
  return p === "never" ? "sends the secret in clear and the channel is not TLS (strict policy)" : "sends the secret in clear and the channel is not TLS to a non-loopback host";
}
