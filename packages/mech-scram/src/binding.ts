/**
 * Channel-binding choice (RFC 5056 types) from core's `ChannelBinding` capability.
 */
import type { ChannelBinding, ChannelBindingType } from "@saslkit/core";

/** Preference order: tls-exporter (RFC 9266, TLS 1.3), then tls-server-end-point (RFC 5929), then tls-unique (TLS ≤1.2 only). */
export const CHANNEL_BINDING_PREFERENCE: readonly ChannelBindingType[] = ["tls-exporter", "tls-server-end-point", "tls-unique"];

/**
 * The best binding type the capability can produce data for, with its data; undefined when none.
 * `types` is the caller's choice (`options.scram.channelBinding` naming types), in order of preference.
 */
export function chooseBinding(
  binding: ChannelBinding | undefined,
  types: readonly ChannelBindingType[] = CHANNEL_BINDING_PREFERENCE,
): { readonly type: ChannelBindingType; readonly data: Uint8Array } | undefined {
  if (!binding) return undefined;
  for (const type of types) {
    if (!binding.types.includes(type)) continue;
    const data = binding.data(type);
    if (data && data.length > 0) return { type, data };
  }
  return undefined;
}

/** Whether the peer can bind at all with one of `types` (some type yields data). */
export function canBind(binding: ChannelBinding | undefined, types: readonly ChannelBindingType[] = CHANNEL_BINDING_PREFERENCE): boolean {
  return chooseBinding(binding, types) !== undefined;
}
