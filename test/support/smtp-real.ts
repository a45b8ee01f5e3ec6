/**
 * Shared helpers for the real-server SMTP tests (test/postfix-smtp.test.ts and
 * test/dovecot-submission.test.ts): the server env (skip locally, fail under CI=true), client
 * options, a transcript recorder with secret checks, and Maildir comparison of what was sent
 * against what was delivered.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { CredentialsInput, MechanismProvider, NegotiationPolicy } from "@saslkit/core";
import type { SmtpClientOptions, TranscriptEntry } from "@saslkit/smtp";
import { listDelivered, type ServerEnv } from "../servers/servers.js";

import { allProviders } from "./real-servers.js";

export { allProviders, realServers, type ServerEnv } from "./real-servers.js";

/** A recorder for the client's transcript. */
export class Transcript {
  readonly entries: TranscriptEntry[] = [];
  readonly sink = (entry: TranscriptEntry): void => {
    this.entries.push(entry);
  };
  /** Client lines only. */
  client(): string[] {
    return this.entries.filter((e) => e.direction === "C").map((e) => e.text);
  }
  server(): string[] {
    return this.entries.filter((e) => e.direction === "S").map((e) => e.text);
  }
  text(): string {
    return this.entries.map((e) => `${e.direction}: ${e.text}`).join("\n");
  }
  /** Client lines that start an AUTH exchange. */
  authLines(): string[] {
    return this.client().filter((l) => /^AUTH /i.test(l));
  }
}

function decodeLoose(token: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token) || token.length < 4) return undefined;
  return Buffer.from(token, "base64").toString("utf8");
}

/**
 * Throws unless no transcript entry (nor any `extra` text such as an error message) contains a
 * secret: raw, base64 of the secret, or inside any base64 word (a PLAIN or XOAUTH2 payload).
 */
export function assertNoSecrets(transcript: Transcript, secrets: readonly string[], extra: readonly string[] = []): void {
  const texts = [...transcript.entries.map((e) => e.text), ...extra];
  for (const secret of secrets) {
    const forms = [secret, Buffer.from(secret, "utf8").toString("base64"), Buffer.from(secret, "utf8").toString("base64").replace(/=+$/, "")];
    for (const text of texts) {
      for (const form of forms) {
        if (text.includes(form)) throw new Error(`A transcript line or message reveals a secret (form "${form === secret ? "raw" : "base64"}").`);
      }
      for (const word of text.split(/\s+/)) {
        if (decodeLoose(word)?.includes(secret)) throw new Error("A transcript line carries a base64 payload that contains a secret.");
      }
    }
  }
}

export interface ClientOptionsInput {
  readonly port: number;
  readonly tls: "starttls" | "implicit" | "none";
  readonly auth?: CredentialsInput;
  readonly policy?: NegotiationPolicy;
  readonly host?: string;
  readonly transcript?: Transcript;
  /** Add the client certificate (EXTERNAL). */
  readonly clientCert?: boolean;
  /** Leave the test CA out (verification against Node's roots must fail). */
  readonly noCa?: boolean;
  readonly providers?: readonly MechanismProvider[];
  readonly extra?: Partial<SmtpClientOptions>;
}

/** SmtpClientOptions for the test servers, with bounded timeouts. */
export function clientOptions(env: ServerEnv, o: ClientOptionsInput): SmtpClientOptions {
  const tlsOptions = {
    servername: env.tlsServerName,
    ...(o.noCa ? {} : { ca: readFileSync(env.caFile, "utf8") }),
    ...(o.clientCert ? { cert: readFileSync(env.clientCert.cert), key: readFileSync(env.clientCert.key) } : {}),
  };
  return {
    host: o.host ?? env.host,
    port: o.port,
    tls: o.tls,
    tlsOptions,
    ehloName: "client.saslkit.test",
    mechanisms: [...(o.providers ?? allProviders)],
    ...(o.auth ? { auth: o.auth } : {}),
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.transcript ? { transcript: o.transcript.sink } : {}),
    timeouts: { connect: 30_000, reply: 15_000, data: 30_000 },
    ...o.extra,
  };
}

/** A unique marker for one test message. */
export function marker(tag: string): string {
  return `saslkit-${tag}-${randomUUID()}`;
}

/** A raw RFC 5322 message with CRLF line ends, carrying `id` in its Message-ID and Subject. */
export function rawMessage(env: ServerEnv, id: string, to: readonly string[], body = "Hello from the saslkit SMTP integration test.\r\n"): string {
  return (
    `From: Sender <sender@${env.domain}>\r\n` +
    `To: ${to.join(", ")}\r\n` +
    `Subject: ${id}\r\n` +
    `Message-ID: <${id}@${env.domain}>\r\n` +
    `Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n` +
    `MIME-Version: 1.0\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\n` +
    `\r\n` +
    body
  );
}

/**
 * Waits (bounded) for the message containing `needle` in `user`'s Maildir and returns its bytes.
 * Other test files deliver to the same users concurrently, so the marker picks ours.
 */
export async function waitForDelivered(user: string, needle: string, env: ServerEnv, timeoutMs = 20_000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  const wanted = Buffer.from(needle, "utf8");
  const seen = new Set<string>();
  for (;;) {
    for (const f of listDelivered(user, env)) {
      if (seen.has(f.path)) continue;
      let data: Buffer;
      try {
        data = await readFile(f.path);
      } catch {
        continue; // moved new/ -> cur/ by a concurrent IMAP/POP3 session; the next listing has it
      }
      if (data.includes(wanted)) return data;
      seen.add(f.path);
    }
    if (Date.now() >= deadline) throw new Error(`No message containing "${needle}" reached ${user}'s Maildir within ${timeoutMs} ms.`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A header field line (`Name: value`) or a folded continuation line. */
const HEADER_LINE = /^(?:[!-9;-~]+:.*|[ \t].*)$/s;

/**
 * Checks a delivered Maildir file against the bytes sent in DATA. Dovecot stores CRLF line ends
 * (mail_save_crlf = yes), so the file must END WITH exactly `sent`, and everything before it must
 * be whole header lines (the trace fields Return-Path and Received the servers prepend).
 * Returns the prepended header block as text.
 */
export function assertDeliveredExactly(delivered: Buffer, sent: Buffer | string): string {
  const bytes = typeof sent === "string" ? Buffer.from(sent, "utf8") : sent;
  if (delivered.length < bytes.length || !delivered.subarray(delivered.length - bytes.length).equals(bytes)) {
    throw new Error(
      `The delivered message does not end with the ${bytes.length} bytes sent.\n--- delivered ---\n${delivered.toString("utf8")}\n--- sent ---\n${bytes.toString("utf8")}`,
    );
  }
  const prefix = delivered.subarray(0, delivered.length - bytes.length).toString("utf8");
  if (prefix !== "") {
    if (!prefix.endsWith("\r\n")) throw new Error(`The prepended part does not end with CRLF: ${JSON.stringify(prefix)}`);
    for (const line of prefix.slice(0, -2).split("\r\n")) {
      if (!HEADER_LINE.test(line) || line.includes("\n") || line.includes("\r")) {
        throw new Error(`The prepended part holds a line that is not a header line: ${JSON.stringify(line)}`);
      }
    }
    if (/^[ \t]/.test(prefix)) throw new Error("The prepended part starts with a continuation line.");
  }
  return prefix;
}

/** Header block (up to the first empty line) of a delivered message, unfolded. */
export function headerNames(delivered: Buffer): string[] {
  const text = delivered.toString("utf8");
  const end = text.indexOf("\r\n\r\n");
  const head = (end < 0 ? text : text.slice(0, end)).replace(/\r\n[ \t]+/g, " ");
  return head.split("\r\n").map((l) => l.slice(0, l.indexOf(":")).toLowerCase());
}

/** Awaits a promise that must reject; returns the rejection. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (error) {
    return error;
  }
  throw new Error("The operation succeeded, but a failure was expected.");
}
