/**
 * The channel with its binding data read now. A probe plans negotiation after it has logged out,
 * when the TLS socket (and so TLS 1.3's tls-exporter keying material) is gone.
 */
import type { ChannelBindingType, ChannelInfo } from "@saslkit/core";

export function snapshotChannel(channel: ChannelInfo): ChannelInfo {
  const binding = channel.channelBinding;
  if (!binding) return channel;
  const data = new Map<ChannelBindingType, Uint8Array | undefined>(binding.types.map((type) => [type, binding.data(type)]));
  return { ...channel, channelBinding: { types: binding.types, data: (type) => data.get(type) } };
}
