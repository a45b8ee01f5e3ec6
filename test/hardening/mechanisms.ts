/**
 * Every installed mechanism provider, with a client context and a server context that make each
 * one usable, for the fuzz and leak suites.
 */
import { Credentials, type ChannelBinding, type ClientContext, type MechanismProvider, type ServerCallbacks, type ServerContext } from "@saslkit/core";
import { anonymous } from "@saslkit/mech-anonymous";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { digestMd5 } from "@saslkit/mech-digest-md5";
import { external } from "@saslkit/mech-external";
import { login } from "@saslkit/mech-login";
import { oauthBearer, xoauth2 } from "@saslkit/mech-oauth";
import { plain } from "@saslkit/mech-plain";
import { deriveScramKeys, scramProviders, type ScramHash } from "@saslkit/mech-scram";
import { PASSWORD, TOKEN } from "./secrets.js";

export const USER = "hardening-user";

/** All providers the project ships. */
export const ALL_PROVIDERS: readonly MechanismProvider[] = [...scramProviders, oauthBearer, xoauth2, digestMd5, cramMd5, plain, login, external, anonymous];

/** A fixed channel-binding capability (same bytes on both sides, so -PLUS can succeed). */
export const FAKE_BINDING: ChannelBinding = {
  types: ["tls-exporter", "tls-server-end-point"],
  data: () => new Uint8Array(32).fill(7),
};

/** Low PBKDF2 counts keep fuzzing fast; the limits themselves are what is under test. */
export const SCRAM_TEST_OPTIONS = { scram: { maxIterations: 8192, minIterations: 1, cache: false } } as const;

export function clientContext(provider: MechanismProvider, overrides: Partial<ClientContext> = {}): ClientContext {
  return {
    credentials: Credentials.from(provider.name === "ANONYMOUS" ? { trace: "hardening@example.org" } : { username: USER, password: PASSWORD, token: TOKEN, trace: "hardening@example.org" }),
    channel: { secure: true, loopback: true, host: "localhost", port: 25, service: "smtp", channelBinding: FAKE_BINDING, externalIdentity: USER },
    offered: ALL_PROVIDERS.map((p) => p.name),
    options: SCRAM_TEST_OPTIONS,
    ...overrides,
  };
}

const keyCache = new Map<string, Promise<Awaited<ReturnType<typeof deriveScramKeys>>>>();

/** Server callbacks that know USER with PASSWORD and TOKEN. */
export const CALLBACKS: ServerCallbacks = {
  verifyPassword: (u, p) => u === USER && p === PASSWORD,
  lookupPassword: (u) => (u === USER ? PASSWORD : undefined),
  lookupScramKeys: (u, hash) => {
    if (u !== USER) return undefined;
    let keys = keyCache.get(hash);
    if (!keys) keyCache.set(hash, (keys = deriveScramKeys(hash as ScramHash, PASSWORD, { iterations: 4096, salt: new Uint8Array(16).fill(3) })));
    return keys;
  },
  verifyToken: (u, t) => (t === TOKEN && (u === "" || u === USER) ? { valid: true, user: USER } : { valid: false, status: "invalid_token", scope: "mail" }),
  acceptAnonymous: () => true,
};

export function serverContext(overrides: Partial<ServerContext> = {}): ServerContext {
  return {
    callbacks: CALLBACKS,
    channel: { secure: true, loopback: true, host: "localhost", port: 25, service: "smtp", channelBinding: FAKE_BINDING, externalIdentity: USER },
    hostname: "hardening.example",
    options: SCRAM_TEST_OPTIONS,
    ...overrides,
  };
}
