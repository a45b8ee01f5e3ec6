/**
 * Named bad-input cases for the client half, the GS2 flag choice and the state machine.
 */
import { describe, expect, it, vi } from "vitest";
import { SaslError, authenticate, planNegotiation, runExchange, utf8 } from "@saslkit/core";
import type { SaslExchange, ServerEvent } from "@saslkit/core";
import { ScramClient, scramSha1, scramSha256 } from "@saslkit/mech-scram";
import { clientContext, fakeBinding, text, type ClientContextInput } from "./helpers.js";

const NONCE = "fyko+d2lbbFgONRv9qkxdawL";
const SERVER_FIRST = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const SECRETS = ["pencil", Buffer.from("pencil").toString("base64")];

function client(input: ClientContextInput = {}, plus = false): ScramClient {
  return new ScramClient(clientContext(input), { hash: "SHA-1", plus, nonce: NONCE });
}

/** Runs to the point where the server-first is answered with `serverFirst`; resolves the error. */
async function afterServerFirst(serverFirst: string, input: ClientContextInput = {}): Promise<SaslError> {
  const c = client(input);
  await c.start();
  const error = await c.step(utf8(serverFirst)).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SaslError);
  const e = error as SaslError;
  for (const s of SECRETS) expect(e.message).not.toContain(s);
  expect(c.complete).toBe(false);
  return e;
}

async function awaitingFinal(): Promise<ScramClient> {
  const c = client();
  await c.start();
  await c.step(utf8(SERVER_FIRST));
  return c;
}

describe("server-first bad inputs", () => {
  // A nonce that does not extend ours is a forged or replayed server-first, not a parse error.
  it("server nonce not prefixed by the client nonce", async () => {
    expect(await afterServerFirst("r=XXXX+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")).toMatchObject({ code: "server-verification-failed" });
  });
  it("server nonce that adds nothing to the client nonce", async () => {
    expect(await afterServerFirst(`r=${NONCE},s=QSXCR+Q6sek8bf92,i=4096`)).toMatchObject({ code: "server-verification-failed" });
  });
  it("missing s=", async () => {
    const e = await afterServerFirst(`r=${NONCE}abc,i=4096`);
    expect(e.code).toBe("invalid-challenge");
    expect(e.message).toMatch(/no salt \(s=\)/);
  });
  it("missing i=", async () => {
    const e = await afterServerFirst(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92`);
    expect(e.code).toBe("invalid-challenge");
    expect(e.message).toMatch(/no iteration count \(i=\)/);
  });
  it("i=0", async () => {
    expect(await afterServerFirst(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=0`)).toMatchObject({ code: "invalid-challenge" });
  });
  it("i not a number", async () => {
    expect(await afterServerFirst(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=-4096`)).toMatchObject({ code: "invalid-challenge" });
  });
  it("i above the default ceiling of 100000", async () => {
    const e = await afterServerFirst(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=100001`);
    expect(e.code).toBe("policy-refused");
    expect(e.message).toMatch(/ceiling of 100000/);
  });
  it("i above a configured ceiling", async () => {
    const e = await afterServerFirst(SERVER_FIRST, { options: { scram: { cache: false, maxIterations: 4000 } } });
    expect(e.code).toBe("policy-refused");
    expect(e.message).toMatch(/4096 iterations, above the ceiling of 4000/);
  });
  it("absurdly long i= is refused before any arithmetic", async () => {
    expect(await afterServerFirst(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=${"9".repeat(400)}`)).toMatchObject({ code: "invalid-challenge" });
  });
  it("i below the 4096 floor is a policy refusal by default", async () => {
    const e = await afterServerFirst(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=1024`);
    expect(e.code).toBe("policy-refused");
    expect(e.message).toMatch(/below the floor of 4096/);
  });
  it("a lowered floor accepts a weak count and warns", async () => {
    const onWarning = vi.fn();
    const c = client({ options: { scram: { cache: false, minIterations: 1000, onWarning } } });
    await c.start();
    expect(text(await c.step(utf8(`r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=1024`)))).toMatch(/^c=biws,r=/);
    expect(onWarning).toHaveBeenCalledTimes(1);
    expect(onWarning.mock.calls[0]?.[0]).toMatch(/only 1024 iterations/);
  });
  it("invalid base64 salt", async () => {
    for (const salt of ["QSXCR+Q6sek8bf9", "QSXC!+Q6sek8bf92", "", "QSXCR+Q6sek8bf92=="]) {
      expect(await afterServerFirst(`r=${NONCE}abc,s=${salt},i=4096`)).toMatchObject({ code: "invalid-challenge" });
    }
  });
  it("unknown mandatory extension m=", async () => {
    const e = await afterServerFirst(`m=foo,r=${NONCE}abc,s=QSXCR+Q6sek8bf92,i=4096`);
    expect(e.code).toBe("invalid-challenge");
    expect(e.message).toMatch(/mandatory extension/);
  });
  it("attributes out of order", async () => {
    expect(await afterServerFirst(`s=QSXCR+Q6sek8bf92,r=${NONCE}abc,i=4096`)).toMatchObject({ code: "invalid-challenge" });
  });
  it("a part that is not an attribute", async () => {
    expect(await afterServerFirst(`r=${NONCE}abc,,s=QSXCR+Q6sek8bf92,i=4096`)).toMatchObject({ code: "invalid-challenge" });
  });
  it("empty server-first", async () => {
    expect(await afterServerFirst("")).toMatchObject({ code: "invalid-challenge" });
  });
  it("server-first that is not UTF-8", async () => {
    const c = client();
    await c.start();
    await expect(c.step(new Uint8Array([0x72, 0x3d, 0xff]))).rejects.toMatchObject({ code: "invalid-challenge" });
  });
  it("e= instead of server-first surfaces the server's text", async () => {
    const e = await afterServerFirst("e=unknown-user");
    expect(e.code).toBe("server-error");
    expect(e.message).toContain("unknown-user");
  });
});

describe("server-final bad inputs", () => {
  it("e= in server-final is a server-error carrying its text, as a challenge", async () => {
    const c = await awaitingFinal();
    const error = (await c.step(utf8("e=invalid-proof")).catch((e: unknown) => e)) as SaslError;
    expect(error).toMatchObject({ code: "server-error", detail: { serverError: "invalid-proof" } });
    expect(error.message).toBe('SCRAM-SHA-1: the server reported the error "invalid-proof".');
    expect(c.failureDetail).toEqual({ serverError: "invalid-proof" });
    expect(c.complete).toBe(false);
  });
  it("e= in server-final delivered as success data", async () => {
    const c = await awaitingFinal();
    await expect(c.finish(utf8("e=channel-bindings-dont-match"))).rejects.toMatchObject({ code: "server-error" });
    expect(c.complete).toBe(false);
  });
  it("server-final without v=", async () => {
    const c = await awaitingFinal();
    await expect(c.step(utf8("x=rmF9pqV8S7suAoZWja4dJRkFsKQ="))).rejects.toMatchObject({ code: "server-verification-failed" });
  });
  it("v= that is not base64", async () => {
    const c = await awaitingFinal();
    await expect(c.step(utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ"))).rejects.toMatchObject({ code: "server-verification-failed" });
  });
  it("empty server-final", async () => {
    const c = await awaitingFinal();
    await expect(c.step(new Uint8Array(0))).rejects.toMatchObject({ code: "server-verification-failed" });
  });
  it("server-final that is not UTF-8 fails verification, not parsing (no fallback after a proof was sent)", async () => {
    const c = await awaitingFinal();
    await expect(c.step(new Uint8Array([0x76, 0x3d, 0xff]))).rejects.toMatchObject({ code: "server-verification-failed" });
  });
  it("success reported without v= (finish(null)) fails closed", async () => {
    const c = await awaitingFinal();
    await expect(c.finish(null)).rejects.toMatchObject({ code: "server-verification-failed" });
    expect(c.complete).toBe(false);
  });
  it("success reported right after client-first fails closed", async () => {
    const c = client();
    await c.start();
    await expect(c.finish(null)).rejects.toMatchObject({ code: "server-verification-failed" });
    expect(c.complete).toBe(false);
  });
  it("the session driver fails closed when the server says success without v=", async () => {
    const events: ServerEvent[] = [
      { type: "challenge", data: utf8(SERVER_FIRST) },
      { type: "success", data: null, reply: { status: "235", enhanced: "2.7.0", text: "Authentication successful" } },
    ];
    const exchange: SaslExchange = {
      begin: async () => events.shift() as ServerEvent,
      respond: async () => events.shift() as ServerEvent,
      cancel: async () => ({ type: "failure", code: "aborted", reply: { status: "501", text: "cancelled" } }),
    };
    await expect(runExchange(client(), exchange)).rejects.toMatchObject({ code: "server-verification-failed" });
  });
});

describe("state machine", () => {
  it("step before start", async () => {
    await expect(client().step(utf8(SERVER_FIRST))).rejects.toMatchObject({ code: "bad-state" });
  });
  it("start twice", async () => {
    const c = client();
    await c.start();
    await expect(c.start()).rejects.toMatchObject({ code: "bad-state" });
  });
  it("step after completion", async () => {
    const c = await awaitingFinal();
    await c.step(utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
    expect(c.complete).toBe(true);
    await expect(c.step(utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))).rejects.toMatchObject({ code: "bad-state" });
  });
  it("step after a failure", async () => {
    const c = await awaitingFinal();
    await expect(c.step(utf8("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="))).rejects.toMatchObject({ code: "server-verification-failed" });
    await expect(c.step(utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))).rejects.toMatchObject({ code: "bad-state" });
  });
  it("finish with different success data after v= was verified by step", async () => {
    const c = await awaitingFinal();
    await c.step(utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
    await c.finish(utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
    await expect(c.finish(utf8("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="))).rejects.toMatchObject({ code: "bad-state" });
  });
});

describe("credentials", () => {
  it("no user name or password is missing-credentials", async () => {
    await expect(client({ credentials: { password: "pencil" } }).start()).rejects.toMatchObject({ code: "missing-credentials" });
    await expect(client({ credentials: { username: "user" } }).start()).rejects.toMatchObject({ code: "missing-credentials" });
  });
  it("escapes ',' and '=' in the user name and the authzid (=2C, =3D)", async () => {
    const c = client({ credentials: { username: "a,b=c", password: "pencil", authzid: "x=y,z" } });
    expect(text(await c.start())).toBe(`n,a=x=3Dy=2Cz,n=a=2Cb=3Dc,r=${NONCE}`);
  });
  it("a password from a function is read at start", async () => {
    const c = client({ credentials: { username: "user", password: async () => "pencil" } });
    await c.start();
    expect(text(await c.step(utf8(SERVER_FIRST)))).toBe("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
  });
  it("random client nonces are printable and differ per exchange", async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const first = text(await new ScramClient(clientContext(), { hash: "SHA-256" }).start()) as string;
      const nonce = /,r=(.+)$/.exec(first)?.[1] as string;
      expect(nonce).toMatch(/^[\x21-\x2b\x2d-\x7e]{24,}$/);
      nonces.add(nonce);
    }
    expect(nonces.size).toBe(3);
  });
});

describe("GS2 channel-binding flag", () => {
  const binding = fakeBinding({ "tls-server-end-point": "cert-hash", "tls-exporter": "exporter-data", "tls-unique": "finished" });
  const flagOf = async (input: ClientContextInput, plus = false) => (text(await client(input, plus).start()) as string).split(",")[0];

  it("y when the client could bind and the server offers no -PLUS", async () => {
    const c = client({ channel: { channelBinding: binding }, offered: ["SCRAM-SHA-1", "PLAIN"] });
    expect(text(await c.start())).toBe(`y,,n=user,r=${NONCE}`);
    expect(text(await c.step(utf8(SERVER_FIRST)))).toMatch(/^c=eSws,/);
  });
  it("n when the server offers some -PLUS", async () => {
    expect(await flagOf({ channel: { channelBinding: binding }, offered: ["SCRAM-SHA-1", "SCRAM-SHA-256-PLUS"] })).toBe("n");
  });
  it("n when the channel cannot bind", async () => {
    expect(await flagOf({ offered: ["SCRAM-SHA-1"] })).toBe("n");
    expect(await flagOf({ channel: { channelBinding: fakeBinding({}) }, offered: ["SCRAM-SHA-1"] })).toBe("n");
  });
  it("n when the caller opts out of channel binding", async () => {
    expect(await flagOf({ channel: { channelBinding: binding }, offered: ["SCRAM-SHA-1"], options: { scram: { channelBinding: false } } })).toBe("n");
  });
  it("n when the offered list is unknown", async () => {
    expect(await flagOf({ channel: { channelBinding: binding }, offered: [] })).toBe("n");
  });
  it("-PLUS prefers tls-exporter and puts gs2-header + data in c=", async () => {
    const c = client({ channel: { channelBinding: binding } }, true);
    expect(text(await c.start())).toBe(`p=tls-exporter,,n=user,r=${NONCE}`);
    const final = text(await c.step(utf8(SERVER_FIRST))) as string;
    const cbind = Buffer.from(/^c=([^,]+),/.exec(final)?.[1] as string, "base64").toString();
    expect(cbind).toBe("p=tls-exporter,,exporter-data");
  });
  it("-PLUS falls back to tls-server-end-point, then tls-unique", async () => {
    expect(await flagOf({ channel: { channelBinding: fakeBinding({ "tls-unique": "f", "tls-server-end-point": "h" }) } }, true)).toBe("p=tls-server-end-point");
    expect(await flagOf({ channel: { channelBinding: fakeBinding({ "tls-unique": "f" }) } }, true)).toBe("p=tls-unique");
  });
  it("-PLUS with an authzid", async () => {
    const c = client({ channel: { channelBinding: fakeBinding({ "tls-unique": "f" }) }, credentials: { username: "user", password: "pencil", authzid: "admin" } }, true);
    expect(text(await c.start())).toBe(`p=tls-unique,a=admin,n=user,r=${NONCE}`);
  });
  it("-PLUS without binding data, or opted out, refuses to start", async () => {
    await expect(client({}, true).start()).rejects.toMatchObject({ code: "policy-refused" });
    await expect(client({ channel: { channelBinding: binding }, options: { scram: { channelBinding: false } } }, true).start()).rejects.toMatchObject({ code: "policy-refused" });
  });
});

describe("secretUsed: no fallback once the proof went out", () => {
  it("is false after client-first and true once client-final (the proof) is produced", async () => {
    const c = client();
    await c.start();
    expect(c.secretUsed).toBe(false);
    await c.step(utf8(SERVER_FIRST));
    expect(c.secretUsed).toBe(true);
  });
});

describe("a server that garbles its answer to the proof gets no second exchange", () => {
  it("SCRAM-SHA-256 does not fall back to SCRAM-SHA-1 after client-final went out", async () => {
    const begun: string[] = [];
    const exchange: SaslExchange = {
      async begin(mechanism, ir) {
        begun.push(mechanism);
        const nonce = /r=([^,]+)/.exec(text(ir) ?? "")?.[1] ?? "";
        return { type: "challenge", data: utf8(`r=${nonce}srv,s=QSXCR+Q6sek8bf92,i=4096`) };
      },
      async respond() {
        return { type: "malformed", reason: "invalid base64" };
      },
      async cancel() {
        return { type: "failure", code: "aborted", reply: { status: "501", text: "cancelled" } };
      },
    };
    const plan = planNegotiation([scramSha256, scramSha1], {
      offered: ["SCRAM-SHA-256", "SCRAM-SHA-1"],
      credentials: { username: "user", password: "pencil" },
      channel: { secure: true },
      options: { scram: { cache: false } },
    });
    const error = await authenticate(plan, exchange).catch((e: unknown) => e);
    expect(begun).toEqual(["SCRAM-SHA-256"]);
    expect(error).toMatchObject({ code: "invalid-challenge", secretSent: true });
  });
});

describe("overlapping calls on one exchange (public API; the driver never makes them)", () => {
  const CLIENT_FINAL = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
  const SERVER_FINAL = utf8("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");

  it("a second step while key derivation runs is bad-state; the first completes and the exchange verifies", async () => {
    const c = client();
    await c.start();
    const first = c.step(utf8(SERVER_FIRST));
    const second = await c.step(utf8(SERVER_FIRST)).then(() => undefined, (e: unknown) => e);
    expect(second).toBeInstanceOf(SaslError);
    expect(second).toMatchObject({ code: "bad-state", mechanism: "SCRAM-SHA-1" });
    expect(text(await first)).toBe(CLIENT_FINAL);
    expect(await c.step(SERVER_FINAL)).toEqual(new Uint8Array(0));
    expect(c.complete).toBe(true);
  });

  it("finish while the proof is computed is bad-state, and does not fail the exchange", async () => {
    const c = client();
    await c.start();
    const first = c.step(utf8(SERVER_FIRST));
    await expect(c.finish(SERVER_FINAL)).rejects.toMatchObject({ code: "bad-state" });
    expect(text(await first)).toBe(CLIENT_FINAL);
    await c.finish(SERVER_FINAL);
    expect(c.complete).toBe(true);
  });

  it("a second start, or a step, while the password is read is bad-state; the first start completes", async () => {
    let release!: (value: string) => void;
    let asked = 0;
    const c = client({ credentials: { username: "user", password: () => (asked++, new Promise<string>((resolve) => (release = resolve))) } });
    const first = c.start();
    await expect(c.start()).rejects.toMatchObject({ code: "bad-state" });
    await expect(c.step(utf8(SERVER_FIRST))).rejects.toMatchObject({ code: "bad-state" });
    release("pencil");
    expect(text(await first)).toBe(`n,,n=user,r=${NONCE}`);
    expect(asked).toBe(1);
    expect(text(await c.step(utf8(SERVER_FIRST)))).toBe(CLIENT_FINAL);
    await c.finish(SERVER_FINAL);
    expect(c.complete).toBe(true);
  });
});
