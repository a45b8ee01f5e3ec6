/**
 * Small fixture mechanism providers for the SMTP tests. @saslkit/smtp must not depend on the
 * mechanism packages, so these implement just enough of each mechanism's client half; root
 * test/smtp-*.test.ts files run the real packages.
 */
import { USERNAME, PASSWORD, SaslError, utf8, type ClientContext, type MechanismProvider, type SaslMechanism } from "@saslkit/core";

const clear = { sendsSecretInClear: true, mutualAuth: false, channelBinding: false } as const;
const hashed = { sendsSecretInClear: false, mutualAuth: false, channelBinding: false } as const;

/** A client that answers `start` with `initial` and each challenge with the next of `responses`. */
function scripted(name: string, initial: (ctx: ClientContext) => Promise<Uint8Array | null>, responses: (ctx: ClientContext, challenge: Uint8Array, round: number) => Promise<Uint8Array>, rounds: number, ctx: ClientContext): SaslMechanism {
  let round = 0;
  let started = false;
  return {
    name,
    async start() {
      started = true;
      return initial(ctx);
    },
    async step(challenge) {
      if (!started || round >= rounds) throw new SaslError(name, "bad-state", "step called after the exchange was complete.");
      return responses(ctx, challenge, round++);
    },
    finish() {},
    get complete() {
      return started && round >= rounds;
    },
  };
}

export const plainFixture: MechanismProvider = {
  name: "PLAIN",
  priority: 300,
  clientFirst: true,
  security: clear,
  needs: [USERNAME, PASSWORD],
  createClient: (ctx) =>
    scripted("PLAIN", async (c) => utf8(`${c.credentials.authzid ?? ""}\0${c.credentials.username}\0${await c.credentials.get(PASSWORD)}`), async () => new Uint8Array(0), 0, ctx),
};

/** LOGIN ignores the prompts' content (draft §2.1): first challenge → user name, second → password. */
export const loginFixture: MechanismProvider = {
  name: "LOGIN",
  priority: 200,
  clientFirst: false,
  security: clear,
  needs: [USERNAME, PASSWORD],
  createClient: (ctx) => scripted("LOGIN", async () => null, async (c, _ch, round) => utf8(round === 0 ? c.credentials.username! : (await c.credentials.get(PASSWORD))!), 2, ctx),
};

/** CRAM-MD5 framing fixture: answers the RFC 4954 §9 challenge with the RFC's response (the RFC gives no password). */
export const cramFixture: MechanismProvider = {
  name: "CRAM-MD5",
  priority: 400,
  clientFirst: false,
  security: hashed,
  needs: [USERNAME, PASSWORD],
  createClient: (ctx) =>
    scripted(
      "CRAM-MD5",
      async () => null,
      async (_c, challenge) => {
        if (Buffer.from(challenge).toString() !== "<CByLEDBhSCgnhMZ+N23F6w@elwood.innosoft.com>") throw new SaslError("CRAM-MD5", "invalid-challenge", "unexpected challenge.");
        return utf8("fred 9e95aee09c40af2b84a0c2b3bbae786e");
      },
      1,
      ctx,
    ),
};

/** Mechanism the RFC 4954 example server refuses with 504. */
export const foobarFixture: MechanismProvider = {
  name: "FOOBAR",
  priority: 500,
  clientFirst: false,
  security: hashed,
  needs: [USERNAME],
  createClient: (ctx) => scripted("FOOBAR", async () => null, async () => utf8("x"), 1, ctx),
};

/** Sends a zero-length initial response (`AUTH X-EMPTY =`). */
export const emptyIrFixture: MechanismProvider = {
  name: "X-EMPTY",
  priority: 100,
  clientFirst: true,
  security: hashed,
  needs: [],
  createClient: (ctx) => scripted("X-EMPTY", async () => new Uint8Array(0), async () => new Uint8Array(0), 0, ctx),
};

/** Answers any number of challenges with "ok" (to meet a server that loops on 334). */
export const echoFixture: MechanismProvider = {
  name: "X-ECHO",
  priority: 100,
  clientFirst: false,
  security: hashed,
  needs: [],
  createClient: (ctx) => scripted("X-ECHO", async () => null, async () => utf8("ok"), Number.MAX_SAFE_INTEGER, ctx),
};

export const all = [plainFixture, loginFixture, cramFixture];
