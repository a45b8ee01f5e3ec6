/**
 * Fuzzing every mechanism half (issue 6): hostile server challenges into every client half
 * (random bytes, near-valid SCRAM server-first/server-final, near-valid DIGEST-MD5
 * digest-challenges and rspauth, OAuth JSON errors), hostile client
 * responses into every server half (random and mutated honest messages). Properties: only
 * SaslError escapes, every call ends (fast-check's per-run timeout), responses stay bounded,
 * nothing echoes a credential, and round trips hold where they exist.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SaslError, type MechanismProvider, type SaslMechanism, type SaslServerMechanism, type ServerStep } from "@saslkit/core";
import { buildPlainMessage, parsePlainMessage } from "../packages/mech-plain/src/plain.js";
import { Credentials } from "@saslkit/core";
import { decodeBase64, encodeBase64 } from "@saslkit/transport";
import { fcParams, isTypedError, onlyTypedErrors } from "./hardening/fuzz.js";
import { ALL_PROVIDERS, USER, clientContext, serverContext } from "./hardening/mechanisms.js";
import { TOKEN, findSecrets } from "./hardening/secrets.js";

/** The encodings of the token a server might echo, which the OAuth halves promise to drop. */
const TOKEN_FORMS = [TOKEN, ...(["base64", "base64url", "hex"] as const).map((e) => Buffer.from(TOKEN).toString(e))];

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_RESPONSE = 1 << 16;

/** Random challenge bytes: raw bytes, printable text, or UTF-8 of any string. */
const challengeArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.string({ maxLength: 200 }).map((s) => enc.encode(s)),
  fc.string({ unit: "grapheme", maxLength: 60 }).map((s) => enc.encode(s)),
);

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Near-valid SCRAM server-first, built on the client's real nonce so the client parses deep. */
/** Mostly `valid`, sometimes one of the hostile alternatives: each run breaks a field or two. */
const mostly = <T,>(valid: fc.Arbitrary<T>, ...hostile: fc.Arbitrary<T>[]) => fc.oneof({ arbitrary: valid, weight: 6 }, ...hostile.map((arbitrary) => ({ arbitrary, weight: 1 })));

/** Near-valid SCRAM server-first, built on the client's real nonce so the client parses deep. */
const scramServerFirstArb = fc.record({
  prefix: mostly(fc.constant(""), fc.constantFrom("m=ext,", "e=other-error,", "x=1,", "r=", ",")),
  keepNonce: mostly(fc.constant(true), fc.constant(false)),
  nonceSuffix: mostly(fc.stringMatching(/^[!-+\--~]{1,40}$/), fc.constant(""), fc.string({ maxLength: 30 }), fc.constant("abc,def")),
  salt: mostly(
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => Buffer.from(b).toString("base64")),
    fc.constantFrom("", "!!notbase64", "QQ", "QQ=", "===="),
    fc.string({ maxLength: 20 }),
  ),
  iterations: mostly(
    fc.integer({ min: 1, max: 4096 }).map(String),
    fc.integer({ min: -5, max: 9000 }).map(String),
    fc.constantFrom("0", "8192", "8193", "100000000000", "1e3", "0x10", "", " 4096", "4096 ", "99999999999999999999999", "NaN", "-0", "+4096", "04096"),
    fc.string({ maxLength: 8 }),
  ),
  order: mostly(fc.constant("rsi"), fc.constantFrom("sri", "ris", "ri", "rs", "r", "", "rsii", "rrsi")),
  extra: mostly(fc.constant(""), fc.string({ maxLength: 30 }).map((s) => `,${s}`), fc.constant(",ext=1")),
});

type ServerFirstSpec = typeof scramServerFirstArb extends fc.Arbitrary<infer T> ? T : never;

function buildServerFirst(spec: ServerFirstSpec, clientNonce: string): string {
  const parts: Record<string, string> = {
    r: `r=${spec.keepNonce ? clientNonce : "other"}${spec.nonceSuffix}`,
    s: `s=${spec.salt}`,
    i: `i=${spec.iterations}`,
  };
  return spec.prefix + [...spec.order].map((k) => parts[k]).join(",") + spec.extra;
}

const scramServerFinalArb = fc.oneof(
  fc.base64String({ maxLength: 100 }).map((s) => `v=${s}`),
  fc.string({ maxLength: 60 }).map((s) => `e=${s}`),
  fc.constantFrom("v=", "e=", "", "v=,e=x", "x=1", "e=invalid-proof", "v=====", "v=" + b64("x".repeat(64))),
  fc.string({ maxLength: 100 }),
);

/** Near-valid DIGEST-MD5 digest-challenges (RFC 2831 §2.1.1): each directive mostly right, sometimes broken, repeated or missing. */
const digestChallengeArb = fc
  .record({
    realms: fc.array(
      mostly(fc.constantFrom('realm="hardening.example"', 'realm=""', 'realm="other.example"'), fc.string({ maxLength: 30 }).map((s) => `realm=${JSON.stringify(s)}`), fc.constantFrom("realm=unquoted", 'realm="open', 'realm="a\\"b"')),
      { maxLength: 3 },
    ),
    nonce: mostly(
      fc.stringMatching(/^[A-Za-z0-9+/=]{1,40}$/).map((n) => `nonce="${n}"`),
      fc.constantFrom("", 'nonce=""', 'nonce="a",nonce="b"', 'nonce="unterminated', "nonce", "nonce=bare"),
      fc.string({ maxLength: 30 }).map((s) => `nonce=${s}`),
    ),
    qop: mostly(fc.constantFrom('qop="auth"', 'qop="auth,auth-int"', 'qop="auth-int,auth-conf,auth"', ""), fc.constantFrom('qop="auth-int"', 'qop=""', 'qop="auth",qop="auth"', "qop=auth")),
    algorithm: mostly(fc.constant("algorithm=md5-sess"), fc.constantFrom("algorithm=md5", "", 'algorithm="md5-sess"', "algorithm=md5-sess,algorithm=md5-sess", "algorithm=MD5-SESS")),
    charset: mostly(fc.constantFrom("charset=utf-8", ""), fc.constantFrom("charset=iso-8859-1", "charset=utf-8,charset=utf-8", "charset=UTF-8")),
    extra: mostly(fc.constant(""), fc.constantFrom("maxbuf=65536", "maxbuf=0", "maxbuf=99999999999999", 'cipher="rc4,3des"', "stale=true", "x-ext=1", ",,", " , ", "=", '"'), fc.string({ maxLength: 40 })),
    reversed: fc.boolean(),
  })
  .map(({ realms, reversed, ...rest }) => {
    const parts = [...realms, rest.nonce, rest.qop, rest.algorithm, rest.charset, rest.extra].filter((p) => p !== "");
    return enc.encode((reversed ? parts.reverse() : parts).join(","));
  });

/** What a server sends after the digest-response: rspauth of the right shape (never the right value), or anything. */
const digestFinalArb = fc
  .oneof(
    fc.stringMatching(/^[0-9a-f]{32}$/).map((h) => `rspauth=${h}`),
    fc.constantFrom("rspauth=", "rspauth=zz", "rspauth=00,rspauth=00", "", 'rspauth="0123456789abcdef0123456789abcdef"'),
    fc.string({ maxLength: 60 }),
  )
  .map((s) => enc.encode(s));

/** OAuth error challenges: JSON objects with hostile members, any JSON, and non-JSON. */
const oauthErrorArb = fc.oneof(
  fc.record(
    {
      status: fc.oneof(fc.constantFrom("invalid_token", "insufficient_scope", "400", "401"), fc.string({ maxLength: 30 }), fc.integer(), fc.constant(null), fc.boolean()),
      scope: fc.string({ maxLength: 40 }),
      schemes: fc.string({ maxLength: 20 }),
      "openid-configuration": fc.webUrl(),
      __proto__: fc.object({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ).map((o) => JSON.stringify(o)),
  fc.json({ maxDepth: 3 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 80 }).map((d) => JSON.stringify({ status: "invalid_token", ...d })),
  fc.string({ maxLength: 100 }),
).map((s) => enc.encode(s));

/** How many challenges a client answered without error, and how many runs reached finish() cleanly: proof the fuzzer gets deep. */
const depth = { answered: 0, finished: 0 };

async function runClientAgainst(provider: MechanismProvider, challenges: (start: Uint8Array | null) => Uint8Array[], finishData: Uint8Array | null): Promise<void> {
  const client: SaslMechanism = provider.createClient(clientContext(provider));
  const first = await onlyTypedErrors(() => client.start());
  if (first === undefined) return;
  if (first !== null) expect(first.length).toBeLessThan(MAX_RESPONSE);
  for (const challenge of challenges(first)) {
    const response = await onlyTypedErrors(() => client.step(challenge));
    if (response === undefined) return;
    expect(response).toBeInstanceOf(Uint8Array);
    expect(response.length).toBeLessThan(MAX_RESPONSE);
    depth.answered++;
  }
  if ((await onlyTypedErrors(() => Promise.resolve(client.finish(finishData)).then(() => true))) === true) depth.finished++;
  const detail = client.failureDetail;
  if (detail) expect(findSecrets(JSON.stringify(detail))).toEqual([]);
}

describe("fuzz: client halves fed hostile challenges", () => {
  for (const provider of ALL_PROVIDERS) {
    it(`${provider.name}: random challenge sequences raise only SaslError`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(challengeArb, { maxLength: 4 }), fc.option(fc.uint8Array({ maxLength: 64 })), async (challenges, finishData) => {
          await runClientAgainst(provider, () => challenges, finishData);
        }),
        fcParams(150),
      );
    });
  }

  for (const provider of ALL_PROVIDERS.filter((p) => p.name.startsWith("SCRAM-"))) {
    it(`${provider.name}: near-valid server-first and server-final messages raise only SaslError`, async () => {
      depth.answered = 0;
      await fc.assert(
        fc.asyncProperty(scramServerFirstArb, scramServerFinalArb, fc.boolean(), async (first, final, finalAsChallenge) => {
          await runClientAgainst(
            provider,
            (start) => {
              const clientFirst = dec.decode(start ?? new Uint8Array());
              const nonce = /r=([^,]*)/.exec(clientFirst)?.[1] ?? "";
              const sf = buildServerFirst(first, nonce);
              return finalAsChallenge ? [enc.encode(sf), enc.encode(final)] : [enc.encode(sf)];
            },
            finalAsChallenge ? null : enc.encode(final),
          );
        }),
        fcParams(200),
      );
      // The generator must reach past server-first parsing (PBKDF2 and the proof) in some runs.
      expect(depth.answered).toBeGreaterThan(0);
    });
  }

  it("DIGEST-MD5: near-valid digest-challenges and rspauth values raise only SaslError", async () => {
    const provider = ALL_PROVIDERS.find((p) => p.name === "DIGEST-MD5")!;
    depth.answered = 0;
    depth.finished = 0;
    await fc.assert(
      fc.asyncProperty(digestChallengeArb, digestFinalArb, fc.boolean(), async (challenge, final, finalAsChallenge) => {
        await runClientAgainst(provider, () => (finalAsChallenge ? [challenge, final] : [challenge]), finalAsChallenge ? null : final);
      }),
      fcParams(200),
    );
    // The generator must reach past challenge parsing (the digest-response is built) in some runs,
    // and no made-up rspauth may ever be accepted as the server's proof.
    expect(depth.answered).toBeGreaterThan(0);
    expect(depth.finished).toBe(0);
  });

  it("SCRAM: a server-first asking for more than maxIterations is refused without running PBKDF2", async () => {
    const provider = ALL_PROVIDERS.find((p) => p.name === "SCRAM-SHA-256")!;
    const client = provider.createClient(clientContext(provider));
    const nonce = /r=([^,]*)/.exec(dec.decode((await client.start())!))![1]!;
    const error = await Promise.resolve(client.step(enc.encode(`r=${nonce}xyz,s=${b64("salt")},i=2000000000`))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect((error as SaslError).code).toBe("policy-refused");
  });

  for (const name of ["OAUTHBEARER", "XOAUTH2"]) {
    it(`${name}: any error challenge gets the one-byte abort or a SaslError, and its detail never holds the token`, async () => {
      const provider = ALL_PROVIDERS.find((p) => p.name === name)!;
      await fc.assert(
        fc.asyncProperty(oauthErrorArb, async (challenge) => {
          const client = provider.createClient(clientContext(provider));
          await client.start();
          const response = await onlyTypedErrors(() => client.step(challenge));
          if (response === undefined) return;
          // RFC 7628 §3.2.3 (and Google's XOAUTH2): the client answers an error with an empty response or %x01.
          expect(response.length).toBeLessThanOrEqual(1);
          const detail = client.failureDetail;
          if (detail) {
            expect(findSecrets(JSON.stringify(detail))).toEqual([]);
            expect(typeof detail["status"]).toBe("string");
          }
        }),
        fcParams(300),
      );
    });

    it(`${name}: an error challenge that echoes the token is dropped from the failure detail`, async () => {
      const provider = ALL_PROVIDERS.find((p) => p.name === name)!;
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...TOKEN_FORMS), fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), async (form, before, after) => {
          const client = provider.createClient(clientContext(provider));
          await client.start();
          await onlyTypedErrors(() => client.step(enc.encode(JSON.stringify({ status: "invalid_token", scope: `${before}${form}${after}`, [`${before}k`]: form }))));
          expect(findSecrets(JSON.stringify(client.failureDetail ?? {}), TOKEN_FORMS)).toEqual([]);
        }),
        fcParams(100),
      );
    });
  }
});

/** Drives a server half with the given messages; checks each step's shape and the bad-state rule. */
async function runServer(server: SaslServerMechanism, initial: Uint8Array | null, responses: readonly Uint8Array[]): Promise<ServerStep | undefined> {
  let step = await onlyTypedErrors(() => server.start(initial));
  for (const response of responses) {
    if (step === undefined) return undefined;
    expect(["challenge", "success", "failure"]).toContain(step.type);
    if (step.type !== "challenge") break;
    expect(step.data.length).toBeLessThan(MAX_RESPONSE);
    step = await onlyTypedErrors(() => server.step(response));
  }
  if (step && step.type !== "challenge") {
    if (step.type === "failure") expect(findSecrets(step.message)).toEqual([]);
    // Called after the outcome: a SaslError("bad-state"), never a crash and never a second outcome.
    const again = await Promise.resolve()
      .then(() => server.step(new Uint8Array(1)))
      .then(
        () => "returned",
        (e: unknown) => e,
      );
    expect(again).toBeInstanceOf(SaslError);
    expect((again as SaslError).code).toBe("bad-state");
  }
  return step;
}

/** Runs the honest client against the server once, recording the client's messages. */
async function honestTranscript(provider: MechanismProvider): Promise<{ initial: Uint8Array | null; responses: Uint8Array[] }> {
  const client = provider.createClient(clientContext(provider));
  const server = provider.createServer!(serverContext());
  const initial = provider.clientFirst ? await client.start() : null;
  if (!provider.clientFirst) await client.start();
  const responses: Uint8Array[] = [];
  let step = await server.start(initial);
  while (step.type === "challenge" && responses.length < 6) {
    const r = await client.step(step.data);
    responses.push(r);
    step = await server.step(r);
  }
  if (step.type !== "success") throw new Error(`${provider.name}: honest client did not authenticate (${JSON.stringify(step)})`);
  return { initial, responses };
}

const mutationArb = fc.record({
  which: fc.nat(),
  kind: fc.constantFrom("flip", "truncate", "insert", "replace", "duplicate", "empty", "nul"),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  extra: fc.uint8Array({ minLength: 1, maxLength: 20 }),
});

function mutate(message: Uint8Array, m: typeof mutationArb extends fc.Arbitrary<infer T> ? T : never): Uint8Array {
  const at = message.length ? m.at % message.length : 0;
  const b = Buffer.from(message);
  switch (m.kind) {
    case "flip":
      if (b.length) b[at] = b[at]! ^ (1 << (m.byte % 8));
      return b;
    case "truncate":
      return b.subarray(0, at);
    case "insert":
      return Buffer.concat([b.subarray(0, at), m.extra, b.subarray(at)]);
    case "replace":
      if (b.length) b[at] = m.byte;
      return b;
    case "duplicate":
      return Buffer.concat([b, b]);
    case "empty":
      return new Uint8Array(0);
    case "nul":
      return Buffer.concat([b.subarray(0, at), Buffer.of(0), b.subarray(at)]);
  }
}

describe("fuzz: server halves fed hostile client responses", () => {
  for (const provider of ALL_PROVIDERS.filter((p) => p.createServer)) {
    it(`${provider.name}: random responses raise only SaslError and never authenticate`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.option(challengeArb, { nil: null }), fc.array(challengeArb, { maxLength: 4 }), async (initial, responses) => {
          const step = await runServer(provider.createServer!(serverContext()), initial, responses);
          // Random bytes cannot prove a password (EXTERNAL and ANONYMOUS take no secret).
          if (step?.type === "success" && !["EXTERNAL", "ANONYMOUS"].includes(provider.name)) {
            expect.fail(`${provider.name} accepted random input as ${JSON.stringify(step.identity)}`);
          }
        }),
        fcParams(150),
      );
    });

    it(`${provider.name}: mutated honest messages raise only SaslError; success only for the right user`, async () => {
      const honest = await honestTranscript(provider);
      const messages = [honest.initial, ...honest.responses];
      await fc.assert(
        fc.asyncProperty(mutationArb, async (m) => {
          const index = m.which % messages.length;
          const mutated = messages.map((msg, i) => (i === index ? (msg === null ? null : mutate(msg, m)) : msg));
          const [initial, ...responses] = mutated;
          // SCRAM and DIGEST-MD5 nonces are fresh per exchange, so a replayed honest transcript must fail at the nonce or proof.
          const step = await runServer(provider.createServer!(serverContext()), initial ?? null, responses.map((r) => r ?? new Uint8Array()));
          if (step?.type === "success") {
            expect(step.identity.authcid === USER || provider.name === "ANONYMOUS").toBe(true);
            expect(provider.name.startsWith("SCRAM-") || provider.name === "DIGEST-MD5").toBe(false);
          }
        }),
        fcParams(150),
      );
    });
  }
});

describe("fuzz: round trips", () => {
  it("base64: decodeBase64(encodeBase64(bytes)) gives the bytes back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
        expect(decodeBase64(encodeBase64(bytes))).toEqual(bytes);
      }),
      fcParams(300),
    );
  });

  it("base64: any string either decodes to bytes that re-encode to it, or is refused (undefined), never throws", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.base64String({ maxLength: 80 }), fc.string({ unit: fc.constantFrom(..."ABab09+/=\r\n -_"), maxLength: 40 })), (text) => {
        const bytes = decodeBase64(text);
        if (bytes !== undefined) expect(encodeBase64(bytes)).toBe(text);
      }),
      fcParams(300),
    );
  });

  it("PLAIN: parsePlainMessage(buildPlainMessage(c)) gives back authzid, authcid and password", async () => {
    const field = fc.string({ unit: fc.constantFrom(..."abcXYZ019@.-_é中 ", "\u{1F600}"), minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(fc.option(field, { nil: undefined }), field, field, async (authzid, username, password) => {
        const built = await onlyTypedErrors(() => buildPlainMessage(Credentials.from({ username, password, ...(authzid !== undefined ? { authzid } : {}) })));
        if (built === undefined) return;
        const parsed = parsePlainMessage(built);
        expect(typeof parsed).toBe("object");
        expect(parsed).toEqual({ authzid: authzid ?? "", authcid: username, password });
      }),
      fcParams(300),
    );
  });

  it("PLAIN: parsePlainMessage never throws on any bytes (it returns a reason string instead)", () => {
    fc.assert(
      fc.property(challengeArb, (bytes) => {
        const parsed = parsePlainMessage(bytes);
        expect(["string", "object"]).toContain(typeof parsed);
      }),
      fcParams(300),
    );
  });

  it("isTypedError rejects plain runtime errors (the fuzz oracle can fail)", () => {
    expect(isTypedError(new TypeError("x"))).toBe(false);
    expect(isTypedError(new SaslError("PLAIN", "bad-state", "x"))).toBe(true);
  });
});
