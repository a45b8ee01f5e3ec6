import { describe, expect, it } from "vitest";
import {
  SaslError,
  allowsFallback,
  authenticate,
  planNegotiation,
  runExchange,
  utf8,
  type MechanismProvider,
  type SaslExchange,
  type ServerEvent,
} from "../src/index.js";
import { allowsFallbackTo } from "../src/fallback.js";
import { LOGIN, PLAIN, ScriptClient, provider } from "./fixtures.js";

/** An exchange that plays scripted server events and records what the client sent. */
function scripted(events: ServerEvent[]) {
  const sent: (Uint8Array | null | "*")[] = [];
  const begun: string[] = [];
  let i = 0;
  const next = async (): Promise<ServerEvent> => events[i++] ?? { type: "failure", code: "protocol-error", reply: { status: "500", text: "script ended" } };
  const exchange: SaslExchange = {
    async begin(mechanism, ir) {
      begun.push(mechanism);
      sent.push(ir);
      return next();
    },
    async respond(r) {
      sent.push(r);
      return next();
    },
    async cancel() {
      sent.push("*");
      return { type: "failure", code: "aborted", reply: { status: "501", text: "cancelled" } };
    },
  };
  return { exchange, sent, begun };
}

const ok: ServerEvent = { type: "success", data: null };
const ch = (s: string): ServerEvent => ({ type: "challenge", data: utf8(s) });

describe("runExchange", () => {
  it("runs the initial response, every challenge and the success", async () => {
    const client = new ScriptClient("X", 2, utf8("hello"));
    const { exchange, sent } = scripted([ch("a"), ch("b"), ok]);
    await expect(runExchange(client, exchange)).resolves.toBe(2);
    expect(sent.map((s) => (s instanceof Uint8Array ? Buffer.from(s).toString() : s))).toEqual(["hello", "a", "b"]);
    expect(client.finished).toEqual([null]);
  });

  it("passes null (no initial response) through, distinct from empty", async () => {
    const none = scripted([ch(""), ok]);
    await runExchange(new ScriptClient("X", 1, null), none.exchange);
    expect(none.sent[0]).toBeNull();
    const empty = scripted([ok]);
    await runExchange(new ScriptClient("X", 0, new Uint8Array()), empty.exchange);
    expect(empty.sent[0]).toEqual(new Uint8Array());
  });

  it("caps the rounds of a server that loops, and cancels on the server", async () => {
    const { exchange, sent } = scripted(Array.from({ length: 50 }, () => ch("again")));
    const error = await runExchange(new ScriptClient("X", 1000, null), exchange, { maxRounds: 5 }).catch((e) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect(error.code).toBe("too-many-rounds");
    expect(sent.at(-1)).toBe("*");
  });

  it("refuses a challenge over the size limit", async () => {
    const { exchange, sent } = scripted([{ type: "challenge", data: new Uint8Array(2000) }]);
    const error = await runExchange(new ScriptClient("X", 5, null), exchange, { maxChallengeBytes: 1000 }).catch((e) => e);
    expect(error.code).toBe("challenge-too-large");
    expect(sent.at(-1)).toBe("*");
  });

  it("cancels when the challenge cannot be decoded", async () => {
    const { exchange, sent } = scripted([{ type: "malformed", reason: "bad base64" }]);
    const error = await runExchange(new ScriptClient("X", 5, null), exchange).catch((e) => e);
    expect(error.code).toBe("invalid-challenge");
    expect(error.message).toBe("X: the server's challenge could not be decoded (bad base64).");
    expect(sent.at(-1)).toBe("*");
  });

  it("cancels when the mechanism rejects a challenge, and keeps its error", async () => {
    const client = new ScriptClient("X", 1, null);
    const { exchange, sent } = scripted([ch("a"), ch("b")]);
    const error = await runExchange(client, exchange).catch((e) => e);
    expect(error.code).toBe("bad-state");
    expect(sent.at(-1)).toBe("*");
  });

  it("fails closed when the server reports success before the client is complete", async () => {
    const { exchange } = scripted([ok]);
    const error = await runExchange(new ScriptClient("X", 1, null), exchange).catch((e) => e);
    expect(error.code).toBe("server-verification-failed");
  });

  it("fails closed with a SaslError when the mechanism's finish throws something else", async () => {
    const client = new ScriptClient("X", 0, null);
    const bug = new TypeError("Cannot read properties of undefined (reading 'length')");
    client.finish = () => {
      throw bug;
    };
    const error = await runExchange(client, scripted([ok]).exchange).catch((e) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect(error).toMatchObject({ code: "server-verification-failed", cause: bug });
  });

  it("turns a failure event into a SaslError carrying the reply", async () => {
    const reply = { status: "535", enhanced: "5.7.8", text: "Authentication credentials invalid" };
    const { exchange } = scripted([{ type: "failure", code: "authentication-failed", reply }]);
    const error = await runExchange(new ScriptClient("X", 0, null), exchange).catch((e) => e);
    expect(error.code).toBe("authentication-failed");
    expect(error.reply).toEqual(reply);
    expect(error.message).toBe("X: the server refused: 535 5.7.8 Authentication credentials invalid.");
  });

  it("honours an abort signal between rounds", async () => {
    const ac = new AbortController();
    const client = new ScriptClient("X", 3, null);
    const { exchange, sent } = scripted([ch("a"), ch("b")]);
    const origRespond = exchange.respond.bind(exchange);
    exchange.respond = async (r) => {
      ac.abort(new Error("user gave up"));
      return origRespond(r);
    };
    const error = await runExchange(client, exchange, { signal: ac.signal }).catch((e) => e);
    expect(error.code).toBe("aborted");
    expect(sent.at(-1)).toBe("*");
  });
});

describe("authenticate and the fallback policy", () => {
  const creds = { username: "u", password: "p" };
  const failing = (name: string, priority: number): MechanismProvider => provider(name, priority);
  const plan = (providers: MechanismProvider[], offered: string[]) => planNegotiation(providers, { offered, credentials: creds, channel: { secure: true } });
  const rejected: ServerEvent = { type: "failure", code: "mechanism-rejected", reply: { status: "504", text: "Unrecognized authentication type" } };
  const badCreds: ServerEvent = { type: "failure", code: "authentication-failed", reply: { status: "535", text: "nope" } };
  const temporary: ServerEvent = { type: "failure", code: "temporary-failure", reply: { status: "454", text: "later" } };

  it("falls back after a mechanism-level failure and records the attempts", async () => {
    const { exchange, begun } = scripted([rejected, ok]);
    const result = await authenticate(plan([failing("AAA", 500), PLAIN], ["AAA", "PLAIN"]), exchange);
    expect(begun).toEqual(["AAA", "PLAIN"]);
    expect(result.mechanism).toBe("PLAIN");
    expect(result.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([["AAA", "mechanism-rejected"], ["PLAIN", undefined]]);
  });

  for (const [label, event] of [["invalid credentials", badCreds], ["a temporary failure", temporary]] as const) {
    it(`never falls back after ${label}`, async () => {
      const { exchange, begun } = scripted([event, ok]);
      const error = await authenticate(plan([failing("AAA", 500), PLAIN], ["AAA", "PLAIN"]), exchange).catch((e) => e);
      expect(begun).toEqual(["AAA"]);
      expect(error.code).toBe(event.code);
      expect(error.attempts).toHaveLength(1);
    });
  }

  it("never falls back when the server fails mutual authentication", async () => {
    const { exchange, begun } = scripted([ok, ok]);
    const mutual = provider("MUTUAL", 800, { createClient: () => new ScriptClient("MUTUAL", 1, utf8("x")) });
    const error = await authenticate(plan([mutual, PLAIN], ["MUTUAL", "PLAIN"]), exchange).catch((e) => e);
    expect(error.code).toBe("server-verification-failed");
    expect(begun).toEqual(["MUTUAL"]);
  });

  it("does not fall back when the caller turns fallback off", async () => {
    const { exchange, begun } = scripted([rejected, ok]);
    await expect(authenticate(plan([failing("AAA", 500), PLAIN], ["AAA", "PLAIN"]), exchange, { fallback: false })).rejects.toMatchObject({ code: "mechanism-rejected" });
    expect(begun).toEqual(["AAA"]);
  });

  it("tries at most maxAttempts mechanisms", async () => {
    const { exchange, begun } = scripted([rejected, rejected, rejected, ok]);
    const providers = [failing("AAA", 500), failing("BBB", 490), failing("CCC", 480), PLAIN];
    await expect(authenticate(plan(providers, ["AAA", "BBB", "CCC", "PLAIN"]), exchange, { maxAttempts: 3 })).rejects.toMatchObject({ code: "mechanism-rejected" });
    expect(begun).toEqual(["AAA", "BBB", "CCC"]);
  });

  it("retries a token mechanism once with a fresh token when it says so", async () => {
    const contexts: boolean[] = [];
    const tok = provider("TOK", 600, {
      needs: [],
      createClient: (ctx) => {
        contexts.push(ctx.freshCredentials === true);
        const c = new ScriptClient("TOK", 0, utf8("t"));
        return Object.assign(c, { retryWithFreshCredentials: true });
      },
    });
    const { exchange, begun } = scripted([badCreds, badCreds, ok]);
    const error = await authenticate(plan([tok], ["TOK"]), exchange).catch((e) => e);
    expect(error.code).toBe("authentication-failed");
    expect(begun).toEqual(["TOK", "TOK"]);
    expect(contexts).toEqual([false, true]);
  });
});

describe("SaslError.toJSON", () => {
  it("serialises an error from authenticate, attempts included, without cycles", async () => {
    const { exchange } = scripted([{ type: "failure", code: "authentication-failed", reply: { status: "535", text: "no" } }]);
    const error = await authenticate(planNegotiation([PLAIN], { offered: ["PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: true } }), exchange).catch((e) => e);
    const json = JSON.parse(JSON.stringify(error));
    expect(json).toMatchObject({ code: "authentication-failed", mechanism: "PLAIN", attempts: [{ mechanism: "PLAIN", code: "authentication-failed" }] });
  });
});

describe("abort while the mechanism prepares", () => {
  it("is reported as aborted, not as whatever the mechanism threw when the connection went away", async () => {
    const ac = new AbortController();
    const client = new ScriptClient("X", 1, null);
    client.start = () => {
      ac.abort(new Error("user gave up"));
      throw new TypeError("Cannot read properties of null (reading 'exportKeyingMaterial')");
    };
    const { exchange, begun } = scripted([ok]);
    const error = await runExchange(client, exchange, { signal: ac.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect(error.code).toBe("aborted");
    expect(begun).toEqual([]);
  });

  it("an abort during a successful start stops before the AUTH command is sent", async () => {
    const ac = new AbortController();
    const client = new ScriptClient("X", 0, utf8("ir"));
    client.start = () => (ac.abort(), utf8("ir"));
    const { exchange, begun } = scripted([ok]);
    await expect(runExchange(client, exchange, { signal: ac.signal })).rejects.toMatchObject({ code: "aborted" });
    expect(begun).toEqual([]);
  });
});

describe("deferred initial response (initialResponseFits)", () => {
  const text = (s: Uint8Array | null | "*") => (s instanceof Uint8Array ? Buffer.from(s).toString() : s);

  it("sends the initial response with the command when it fits (the default)", async () => {
    const { exchange, sent } = scripted([ok]);
    await runExchange(new ScriptClient("X", 0, utf8("short")), exchange);
    expect(sent.map(text)).toEqual(["short"]);
  });

  it("asks the adapter with the mechanism name and the response", async () => {
    const asked: [string, string][] = [];
    const { exchange } = scripted([ok]);
    await runExchange(new ScriptClient("X", 0, utf8("abc")), exchange, { initialResponseFits: (m, r) => (asked.push([m, Buffer.from(r).toString()]), true) });
    expect(asked).toEqual([["X", "abc"]]);
  });

  it("when it does not fit: begin(name, null), the empty challenge, then the response; the empty challenge is no round", async () => {
    const client = new ScriptClient("X", 1, utf8("long-response"));
    const { exchange, sent, begun } = scripted([ch(""), ch("next"), ok]);
    await expect(runExchange(client, exchange, { initialResponseFits: () => false })).resolves.toBe(1);
    expect(begun).toEqual(["X"]);
    expect(sent.map(text)).toEqual([null, "long-response", "next"]);
    expect(client.seen.map((c) => Buffer.from(c).toString())).toEqual(["next"]);
  });

  it("refuses a non-empty challenge where the empty one was due, and cancels", async () => {
    const { exchange, sent } = scripted([ch("surprise")]);
    const error = await runExchange(new ScriptClient("X", 0, utf8("long")), exchange, { initialResponseFits: () => false }).catch((e) => e);
    expect(error).toBeInstanceOf(SaslError);
    expect(error).toMatchObject({ code: "invalid-challenge", mechanism: "X" });
    expect(sent.map(text)).toEqual([null, "*"]);
  });

  it("reports the server's failure to the bare command as is", async () => {
    const { exchange, sent } = scripted([{ type: "failure", code: "mechanism-rejected", reply: { status: "504", text: "no" } }]);
    await expect(runExchange(new ScriptClient("X", 0, utf8("long")), exchange, { initialResponseFits: () => false })).rejects.toMatchObject({ code: "mechanism-rejected" });
    expect(sent).toEqual([null]);
  });

  it("never defers a null initial response (nothing to defer) and is not consulted for it", async () => {
    let asked = 0;
    const { exchange, sent } = scripted([ch(""), ok]);
    await runExchange(new ScriptClient("X", 1, null), exchange, { initialResponseFits: () => (asked++, false) });
    expect(asked).toBe(0);
    expect(sent.map(text)).toEqual([null, ""]);
  });

  it("reaches authenticate through AuthenticateOptions", async () => {
    const { exchange, sent } = scripted([ch(""), ok]);
    const result = await authenticate(planNegotiation([PLAIN], { offered: ["PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: true } }), exchange, {
      initialResponseFits: (_m, r) => r.length < 3,
    });
    expect(result.mechanism).toBe("PLAIN");
    expect(sent.map(text)).toEqual([null, "PLAIN"]);
  });
});

describe("no fallback once the first message carried the secret (issue 13 item 4)", () => {
  const creds = { username: "u", password: "p" };
  const secretFirst = (name: string, priority: number) =>
    provider(name, priority, { security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true } });
  const plan = (providers: MechanismProvider[]) => planNegotiation(providers, { offered: providers.map((p) => p.name), credentials: creds, channel: { secure: true } });
  const rejected: ServerEvent = { type: "failure", code: "mechanism-rejected", reply: { status: "BAD", text: "no" } };

  it("ends the attempt on a mechanism-level failure after the initial response went out, and marks the error", async () => {
    const { exchange, begun } = scripted([rejected, ok]);
    const error = await authenticate(plan([secretFirst("SECRETIR", 500), LOGIN]), exchange).catch((e) => e);
    expect(begun).toEqual(["SECRETIR"]);
    expect(error).toMatchObject({ code: "mechanism-rejected", secretSent: true });
    expect(allowsFallback(error)).toBe(false);
    expect(error.attempts).toHaveLength(1);
    expect(error.toJSON()).toMatchObject({ secretSent: true });
  });

  it("still falls back when the server refused the bare command before the deferred response was sent", async () => {
    const { exchange, begun, sent } = scripted([rejected, ok]);
    const result = await authenticate(plan([secretFirst("SECRETIR", 500), LOGIN]), exchange, { initialResponseFits: () => false });
    expect(begun).toEqual(["SECRETIR", "LOGIN"]);
    expect(sent[0]).toBeNull();
    expect(result.attempts[0]?.error?.secretSent).toBe(false);
  });

  it("does not concern mechanisms that keep the secret out of the first message", async () => {
    const { exchange, begun } = scripted([rejected, ok]);
    const result = await authenticate(plan([provider("HASHED", 500), LOGIN]), exchange);
    expect(begun).toEqual(["HASHED", "LOGIN"]);
    expect(result.attempts[0]?.error?.secretSent).toBe(false);
  });
});

describe("no fallback once a message computed from the secret went out (a proof or a later secret)", () => {
  const creds = { username: "u", password: "p" };
  /** Answers its one challenge with a proof of the secret, as CRAM-MD5, DIGEST-MD5 or SCRAM's client-final do. */
  class ProofClient extends ScriptClient {
    secretUsed = false;
    override step(challenge: Uint8Array) {
      this.secretUsed = true;
      return super.step(challenge);
    }
  }
  const proving = provider("PROOF", 500, { clientFirst: false, createClient: () => new ProofClient("PROOF", 2, null) });
  const plan = () => planNegotiation([proving, LOGIN], { offered: ["PROOF", "LOGIN"], credentials: creds, channel: { secure: true } });

  it("does not try another mechanism when the server garbles its answer to the proof", async () => {
    const { exchange, begun } = scripted([ch("nonce"), { type: "malformed", reason: "invalid base64" }, ok]);
    const error = await authenticate(plan(), exchange).catch((e) => e);
    expect(begun).toEqual(["PROOF"]);
    expect(error).toMatchObject({ code: "invalid-challenge", secretSent: true });
    expect(allowsFallback(error)).toBe(false);
  });

  it("still falls back when the mechanism failed before any proof went out", async () => {
    const { exchange, begun } = scripted([{ type: "malformed", reason: "invalid base64" }, ok]);
    const result = await authenticate(plan(), exchange);
    expect(begun).toEqual(["PROOF", "LOGIN"]);
    expect(result.attempts[0]?.error?.secretSent).toBe(false);
  });
});

describe("no fallback from a channel-bound mechanism to an unbound one", () => {
  const creds = { username: "u", password: "p" };
  const bound = provider("BOUND-PLUS", 950, { security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: true } });
  const unbound = provider("BOUND", 850, { security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: false } });
  const otherBound = provider("OTHER-PLUS", 900, { security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: true } });
  const plan = (providers: MechanismProvider[]) => planNegotiation(providers, { offered: providers.map((p) => p.name), credentials: creds, channel: { secure: true } });
  const garbled: ServerEvent = { type: "malformed", reason: "invalid base64" };

  it("stops when a garbled -PLUS exchange would fall back to the same family without binding (the binding was the defence)", async () => {
    const { exchange, begun } = scripted([garbled, ok]);
    const error = await authenticate(plan([bound, unbound]), exchange).catch((e) => e);
    expect(begun).toEqual(["BOUND-PLUS"]);
    expect(error.code).toBe("invalid-challenge");
  });

  it("still tries another channel-bound mechanism", async () => {
    const { exchange, begun } = scripted([garbled, ok]);
    await authenticate(plan([bound, otherBound, unbound]), exchange);
    expect(begun).toEqual(["BOUND-PLUS", "OTHER-PLUS"]);
  });
});

describe("534 mechanism too weak falls back only to a stronger-or-equal mechanism (issue 13 item 8)", () => {
  const creds = { username: "u", password: "p" };
  const tooWeak: ServerEvent = { type: "failure", code: "mechanism-too-weak", reply: { status: "534", enhanced: "5.7.9", text: "Authentication mechanism is too weak" } };

  it("stops when every remaining candidate is weaker", async () => {
    const { exchange, begun } = scripted([tooWeak, ok]);
    const providers = [provider("MID", 400), provider("LOW", 200)];
    const error = await authenticate(planNegotiation(providers, { offered: ["MID", "LOW"], credentials: creds, channel: { secure: true } }), exchange).catch((e) => e);
    expect(begun).toEqual(["MID"]);
    expect(error.code).toBe("mechanism-too-weak");
  });

  it("skips weaker candidates and tries a stronger one the caller ordered later", async () => {
    const { exchange, begun } = scripted([tooWeak, ok]);
    const providers = [provider("MID", 400), provider("LOW", 200), provider("HIGH", 800)];
    const negotiation = planNegotiation(providers, { offered: ["MID", "LOW", "HIGH"], credentials: creds, channel: { secure: true }, policy: { order: ["MID", "LOW", "HIGH"] } });
    const result = await authenticate(negotiation, exchange);
    expect(begun).toEqual(["MID", "HIGH"]);
    expect(result.attempts.map((a) => a.mechanism)).toEqual(["MID", "HIGH"]);
  });

  it("allows an equal-priority candidate", async () => {
    const { exchange, begun } = scripted([tooWeak, ok]);
    const providers = [provider("AAA", 400), provider("BBB", 400)];
    await authenticate(planNegotiation(providers, { offered: ["AAA", "BBB"], credentials: creds, channel: { secure: true } }), exchange);
    expect(begun).toEqual(["AAA", "BBB"]);
  });

  it("allowsFallbackTo states the rule", () => {
    const weak = new SaslError("MID", "mechanism-too-weak", "too weak.");
    expect(allowsFallbackTo(weak, { priority: 400 }, { priority: 300 })).toBe(false);
    expect(allowsFallbackTo(weak, { priority: 400 }, { priority: 400 })).toBe(true);
    expect(allowsFallbackTo(new SaslError("MID", "mechanism-rejected", "no."), { priority: 400 }, { priority: 300 })).toBe(true);
  });
});
