/**
 * The DIGEST-MD5 provider, wrapped so a test can read the digest-response the client sent (the
 * adapters mask every client AUTH line in their transcripts, so the transcript cannot show it).
 */
import type { MechanismProvider, SaslMechanism } from "@saslkit/core";
import { digestMd5 } from "@saslkit/mech-digest-md5";

export interface DigestMd5Recorder {
  readonly provider: MechanismProvider;
  /** Every client message of every exchange, decoded as UTF-8, in order. */
  readonly sent: string[];
  /** The directives of the last digest-response (the message holding `digest-uri`), or undefined. */
  lastResponse(): Map<string, string> | undefined;
}

export function recordDigestMd5(): DigestMd5Recorder {
  const sent: string[] = [];
  const provider: MechanismProvider = {
    ...digestMd5,
    createClient(context) {
      const inner = digestMd5.createClient(context);
      const wrapped: SaslMechanism = {
        name: inner.name,
        get complete() {
          return inner.complete;
        },
        start: () => inner.start(),
        async step(challenge) {
          const response = await inner.step(challenge);
          sent.push(Buffer.from(response).toString("utf8"));
          return response;
        },
        finish: (data) => inner.finish(data),
      };
      return wrapped;
    },
  };
  return {
    provider,
    sent,
    lastResponse() {
      const text = [...sent].reverse().find((m) => m.includes("digest-uri="));
      if (text === undefined) return undefined;
      const out = new Map<string, string>();
      // Good enough for the values our client writes (no commas inside quotes in these tests).
      for (const part of text.split(",")) {
        const eq = part.indexOf("=");
        out.set(part.slice(0, eq), part.slice(eq + 1).replace(/^"(.*)"$/, "$1"));
      }
      return out;
    },
  };
}
