/**
 * The demo's embedded server: every installed server half, a demo user with a random password,
 * STARTTLS with a throwaway certificate made with node:crypto (no openssl binary), on 127.0.0.1 only.
 */
import { randomBytes } from "node:crypto";
import type { ServerCallbacks } from "@saslkit/core";
import { deriveScramKeys, prepareScramPassword, type ScramHash, type ScramStoredKeys } from "@saslkit/mech-scram";
import { SmtpServer, type ServerTranscriptEntry } from "@saslkit/smtp-server";
import { installedProviders } from "../mechanisms.js";
import { demoCertificate } from "./demo-certificate.js";

export interface DemoServer {
  readonly server: SmtpServer;
  readonly user: string;
  readonly password: string;
  /** PEM of the CA that signed the server's certificate (the client trusts only this). */
  readonly ca: string;
  readonly transcript: ServerTranscriptEntry[];
  /** Names of the server halves registered, by priority. */
  readonly mechanisms: readonly string[];
}

export async function startDemoServer(): Promise<DemoServer> {
  const user = "alice";
  // Random per run and never printed: the transcript checks below prove it is masked.
  const password = `demo-${randomBytes(12).toString("base64url")}`;
  const scramKeys = new Map<string, ScramStoredKeys>();
  const prepared = prepareScramPassword(password);
  for (const hash of ["SHA-1", "SHA-256", "SHA-512"] as const satisfies readonly ScramHash[]) {
    scramKeys.set(hash, await deriveScramKeys(hash, prepared, { iterations: 4096 }));
  }
  const callbacks: ServerCallbacks = {
    verifyPassword: (u, p) => u === user && p === password,
    lookupPassword: (u) => (u === user ? password : undefined),
    lookupScramKeys: (u, hash) => (u === user ? scramKeys.get(hash) : undefined),
    verifyToken: () => ({ valid: false, status: "invalid_token" }),
    acceptAnonymous: () => false,
  };
  const providers = (await installedProviders()).filter((p) => p.createServer !== undefined);
  const certs = demoCertificate();
  const transcript: ServerTranscriptEntry[] = [];
  const server = await SmtpServer.start({
    host: "127.0.0.1",
    port: 0,
    hostname: "demo.saslkit.test",
    mechanisms: providers,
    callbacks,
    tls: { key: certs.key, cert: certs.cert },
    requireAuth: true,
    cleartext: "never",
    commandTimeoutMs: 10_000,
    dataTimeoutMs: 10_000,
    keepMessages: 10,
    transcript: (entry) => transcript.push(entry),
  });
  return { server, user, password, ca: certs.ca, transcript, mechanisms: providers.map((p) => p.name) };
}
