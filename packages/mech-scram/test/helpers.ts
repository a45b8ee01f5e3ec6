import { Credentials, utf8 } from "@saslkit/core";
import type { ChannelBinding, ChannelBindingType, ChannelInfo, ClientContext, CredentialsInput, ServerContext } from "@saslkit/core";
import type { ScramStoredKeys } from "@saslkit/mech-scram";

export const text = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString("utf8"));
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
export const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));

/** A channel-binding capability serving fixed data per type. */
export function fakeBinding(data: Partial<Record<ChannelBindingType, Uint8Array | string>>): ChannelBinding {
  const types = Object.keys(data) as ChannelBindingType[];
  return {
    types,
    data: (type) => {
      const d = data[type];
      return d === undefined ? undefined : typeof d === "string" ? utf8(d) : d;
    },
  };
}

export interface ClientContextInput {
  readonly credentials?: CredentialsInput;
  readonly channel?: Partial<ChannelInfo>;
  readonly offered?: readonly string[];
  readonly options?: Record<string, unknown>;
}

export function clientContext(input: ClientContextInput = {}): ClientContext {
  return {
    credentials: Credentials.from(input.credentials ?? { username: "user", password: "pencil" }),
    channel: { secure: true, ...input.channel },
    offered: input.offered ?? [],
    options: input.options ?? { scram: { cache: false } },
  };
}

export function serverContext(
  users: Record<string, ScramStoredKeys>,
  input: { channel?: Partial<ChannelInfo>; options?: Record<string, unknown>; authorize?: (a: string, z: string) => boolean; advertised?: readonly string[] } = {},
): ServerContext {
  return {
    callbacks: {
      lookupScramKeys: (authcid) => users[authcid],
      ...(input.authorize ? { authorize: input.authorize } : {}),
    },
    channel: { secure: true, ...input.channel },
    hostname: "localhost",
    options: input.options ?? {},
    ...(input.advertised ? { advertised: input.advertised } : {}),
  };
}
