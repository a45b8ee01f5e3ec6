import { describe, expect, it } from "vitest";
import { container } from "tsyringe";
import { Credentials, MechanismRegistry, PASSWORD, SaslError, USERNAME, authenticate, negotiate, pairedExchange, planNegotiation, runExchange, type CredentialsInput, type SaslExchange, type ServerCallbacks } from "@saslkit/core";
import { PlainClient, PlainServer, plain, registerPlain } from "@saslkit/mech-plain";
import { PLAIN_MAX_FIELD_OCTETS, PlainClientState, parsePlainMessage } from "../src/plain.js";

const b64 = (bytes: Uint8Array | null): string => Buffer.from(bytes ?? []).toString("base64");
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"));
const empty = new Uint8Array(0);

const client = (input: CredentialsInput): PlainClient => new PlainClient({ credentials: Credentials.from(input) });

/** A server whose only user is `users` (name → password). */
const server = (users: Record<string, string>, extra: ServerCallbacks = {}): PlainServer =>
  new PlainServer({ callbacks: { verifyPassword: (u, p) => users[u] === p, ...extra } });

async function rejects(promise: Promise<unknown> | (() => unknown), code: string): Promise<SaslError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(SaslError);
    expect((error as SaslError).code).toBe(code);
    expect((error as SaslError).mechanism).toBe("PLAIN");
    return error as SaslError;
  }
  throw new Error(`expected SaslError ${code}`);
}

describe("PLAIN RFC vectors", () => {
  it("rfc4616_example1_without_initial_response", async () => {
    // C: AUTHENTICATE "PLAIN" / S: + "" / C: <NUL>tim<NUL>tanstaaftanstaaf / S: OK
    // The driver withholds the initial response (no SASL-IR) and answers the empty "+" with it.
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    const exchange = pairedExchange(server({ tim: "tanstaaftanstaaf" }));
    expect(await runExchange(c, exchange, { initialResponseFits: () => false })).toBe(0);
    expect(exchange.sent[0]).toBeNull();
    const sent = exchange.sent[1] as Uint8Array;
    expect(exchange.sent).toHaveLength(2);
    expect(sent.length).toBe(21);
    expect(b64(sent)).toBe("AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
    expect(exchange.outcome).toEqual({ identity: { authcid: "tim", authzid: "tim" } });
    expect(c.complete).toBe(true);
    expect(c.state).toBe(PlainClientState.done);
    await rejects(c.step(empty), "bad-state");

    const s = server({ tim: "tanstaaftanstaaf" });
    expect(await s.start(null)).toEqual({ type: "challenge", data: empty });
    expect(await s.step(sent)).toEqual({ type: "success", identity: { authcid: "tim", authzid: "tim" } });
    await expect(s.step(sent)).rejects.toMatchObject({ code: "bad-state" });
  });

  it("rfc4616_example2_authzid_refused_by_server", async () => {
    const c = client({ authzid: "Ursel", username: "Kurt", password: "xipj3plmq" });
    const s = server({ Kurt: "xipj3plmq" });
    const exchange = pairedExchange(s);
    const error = await rejects(runExchange(c, exchange), "authorization-failed");
    expect(exchange.sent.length).toBe(1);
    expect(exchange.sent[0]?.length).toBe(20);
    expect(b64(exchange.sent[0] ?? null)).toBe("VXJzZWwAS3VydAB4aXBqM3BsbXE=");
    expect(exchange.outcome).toEqual({ failure: "authorization-failed" });
    expect(error.reply?.text).toBe("Not authorized to requested authorization identity.");
    expect(c.complete).toBe(true);
    // After its one message PLAIN has nothing more to say: every challenge fails, an empty one too.
    await rejects(c.step(bytes("more?")), "bad-state");
    await rejects(c.step(empty), "bad-state");
  });

  it("rfc4954_plain_initial_response_after_starttls", async () => {
    // C: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ= / S: 235 2.7.0 Authentication successful
    const c = client({ authzid: "test", username: "test", password: "1234" });
    const exchange = pairedExchange(server({ test: "1234" }));
    expect(await runExchange(c, exchange)).toBe(0);
    expect(b64(exchange.sent[0] ?? null)).toBe("dGVzdAB0ZXN0ADEyMzQ=");
    expect(exchange.outcome).toEqual({ identity: { authcid: "test", authzid: "test" } });
    expect(c.complete).toBe(true);
    await rejects(c.step(empty), "bad-state");
  });
});

describe("PLAIN client against server", () => {
  const users = { tim: "tanstaaftanstaaf", "ümlaut": "pässwörd-ü" };

  it("right_password_succeeds", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "tim", password: "tanstaaftanstaaf" }), exchange);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("wrong_password_fails_with_authentication_failed", async () => {
    const exchange = pairedExchange(server(users));
    const error = await rejects(runExchange(client({ username: "tim", password: "wrong-one" }), exchange), "authentication-failed");
    expect(exchange.outcome).toEqual({ failure: "authentication-failed" });
    expect(error.message).not.toContain("wrong-one");
  });

  it("unknown_user_fails_with_authentication_failed", async () => {
    const exchange = pairedExchange(server(users));
    await rejects(runExchange(client({ username: "nobody", password: "x" }), exchange), "authentication-failed");
  });

  it("password_from_a_function_is_used", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "tim", password: async () => "tanstaaftanstaaf" }), exchange);
    expect(exchange.outcome?.identity?.authcid).toBe("tim");
  });

  it("authzid_allowed_by_authorize_callback", async () => {
    const seen: [string, string][] = [];
    const s = server(users, { authorize: (authcid, authzid) => (seen.push([authcid, authzid]), authcid === "tim" && authzid === "shared") });
    const exchange = pairedExchange(s);
    await runExchange(client({ username: "tim", password: "tanstaaftanstaaf", authzid: "shared" }), exchange);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "shared" });
    expect(seen).toEqual([["tim", "shared"]]);
  });

  it("authzid_refused_by_authorize_callback", async () => {
    const exchange = pairedExchange(server(users, { authorize: () => false }));
    await rejects(runExchange(client({ username: "tim", password: "tanstaaftanstaaf", authzid: "root" }), exchange), "authorization-failed");
  });

  it("authzid_equal_to_authcid_is_allowed_by_default", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "tim", password: "tanstaaftanstaaf", authzid: "tim" }), exchange);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("authorization_is_not_checked_when_the_password_is_wrong", async () => {
    let asked = false;
    const exchange = pairedExchange(server(users, { authorize: () => (asked = true) }));
    await rejects(runExchange(client({ username: "tim", password: "bad", authzid: "x" }), exchange), "authentication-failed");
    expect(asked).toBe(false);
  });

  it("empty_authzid_is_no_authzid", async () => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf", authzid: "" });
    const message = await c.start();
    expect(message[0]).toBe(0);
    expect(b64(message)).toBe("AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  });

  it("non_ascii_credentials_are_utf8", async () => {
    const c = client({ username: "ümlaut", password: "pässwörd-ü" });
    const exchange = pairedExchange(server(users));
    await runExchange(c, exchange);
    expect(exchange.sent[0]).toEqual(bytes("\0ümlaut\0pässwörd-ü"));
    expect(exchange.sent[0]?.length).toBe(1 + 7 + 1 + 13);
    expect(exchange.outcome?.identity?.authcid).toBe("ümlaut");
  });

  it("server_without_initial_response_asks_with_an_empty_challenge", async () => {
    // The driver withholds the IR: the paired exchange sees begin(null), the driver answers the
    // server's empty challenge with the message; the mechanism is never stepped.
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    const exchange = pairedExchange(server(users));
    expect(await runExchange(c, exchange, { initialResponseFits: () => false })).toBe(0);
    expect(exchange.sent).toEqual([null, bytes("\0tim\0tanstaaftanstaaf")]);
    expect(exchange.outcome?.identity?.authcid).toBe("tim");
  });
});

describe("PLAIN initial response", () => {
  it("null_initial_response_differs_from_empty: plain_always_sends_a_non_empty_one", async () => {
    const message = await client({ username: "u", password: "p" }).start();
    expect(message).not.toBeNull();
    expect(message).toEqual(bytes("\0u\0p"));
    expect(plain.clientFirst).toBe(true);
  });
});

describe("PLAIN client bad input", () => {
  it.each([
    ["an empty", empty],
    ["a non-empty", bytes("Username:")],
    ["an oversized", new Uint8Array(100_000)],
    ["a non-UTF-8", Uint8Array.of(0xff, 0xfe)],
  ])("%s challenge after the message is bad_state", async (_what, challenge) => {
    const c = client({ username: "u", password: "p" });
    await c.start();
    const error = await rejects(c.step(challenge), "bad-state");
    expect(error.message).toBe("PLAIN: the server sent a challenge after the only message.");
    expect(c.state).toBe(PlainClientState.sent);
  });

  it("step_before_start_is_bad_state_and_builds_nothing", async () => {
    let asked = 0;
    const c = client({ username: "u", password: () => (asked++, "p") });
    const error = await rejects(c.step(empty), "bad-state");
    expect(error.message).toBe("PLAIN: step() was called before start().");
    expect(asked).toBe(0);
  });

  it("step_after_completion_is_bad_state", async () => {
    const c = client({ username: "u", password: "p" });
    await c.start();
    c.finish();
    expect(c.state).toBe(PlainClientState.done);
    await rejects(c.step(empty), "bad-state");
  });

  it("a second start while the first reads the password is bad_state; the first still completes", async () => {
    let release!: (value: string) => void;
    let asked = 0;
    const c = client({ username: "u", password: () => (asked++, new Promise<string>((resolve) => (release = resolve))) });
    const first = c.start();
    await rejects(c.start(), "bad-state");
    release("p");
    expect(await first).toEqual(bytes("\0u\0p"));
    expect(asked).toBe(1);
    expect(c.state).toBe(PlainClientState.sent);
  });

  it("a start whose password was refused leaves the client initial", async () => {
    const c = client({ username: "u", password: async () => "" });
    await rejects(c.start(), "invalid-credentials-input");
    expect(c.state).toBe(PlainClientState.initial);
  });

  it("start_twice_is_bad_state", async () => {
    const c = client({ username: "u", password: "p" });
    await c.start();
    await rejects(c.start(), "bad-state");
  });

  it.each([
    ["username", { username: "a\0b", password: "secret-pw" }],
    ["password", { username: "u", password: "sec\0ret-pw" }],
    ["authorization identity", { username: "u", password: "secret-pw", authzid: "a\0b" }],
  ])("reject_null_bytes in the %s", async (what, input) => {
    const error = await rejects(client(input).start(), "invalid-credentials-input");
    expect(error.message).toBe(`PLAIN: the ${what} contains a NUL character, which PLAIN cannot carry.`);
    expect(error.message).not.toContain("secret");
    expect(error.message).not.toContain(b64(bytes("sec\0ret-pw")));
  });

  it("empty_username_is_refused", async () => {
    await rejects(client({ username: "", password: "p" }).start(), "invalid-credentials-input");
  });

  it("empty_password_is_refused", async () => {
    await rejects(client({ username: "u", password: "" }).start(), "invalid-credentials-input");
  });

  it("missing_password_is_missing_credentials", async () => {
    await rejects(client({ username: "u" }).start(), "missing-credentials");
  });

  it("missing_username_is_missing_credentials", async () => {
    await rejects(client({ password: "p" }).start(), "missing-credentials");
  });

  it("lone_surrogate_is_refused", async () => {
    await rejects(client({ username: "u", password: "ab\uD800" }).start(), "invalid-credentials-input");
  });

  it("lone_surrogates_at_field_edges_are_refused_naming_the_first_field", async () => {
    // The separators keep a high surrogate ending one field and a low one starting the next apart.
    const edge = await rejects(client({ authzid: "a\uD800", username: "\uDC00u", password: "secret-pw" }).start(), "invalid-credentials-input");
    expect(edge.message).toBe("PLAIN: the authorization identity is not valid Unicode (it has a lone surrogate).");
    const user = await rejects(client({ username: "\uDC00u", password: "sec\0ret-pw" }).start(), "invalid-credentials-input");
    expect(user.message).toBe("PLAIN: the username is not valid Unicode (it has a lone surrogate).");
  });
});

describe("PLAIN server bad input", () => {
  const s = (): PlainServer => server({ tim: "tanstaaftanstaaf" });
  const failure = async (message: Uint8Array, code: string): Promise<string> => {
    const step = await s().start(message);
    expect(step.type).toBe("failure");
    if (step.type !== "failure") throw new Error("unreachable");
    expect(step.code).toBe(code);
    expect(step.message).not.toContain("tanstaaftanstaaf");
    return step.message;
  };

  it("wrong_password_is_authentication_failed", async () => {
    expect(await failure(bytes("\0tim\0wrong"), "authentication-failed")).toBe("Authentication failed.");
  });

  it("missing_verify_callback_is_authentication_failed", async () => {
    const step = await new PlainServer({ callbacks: {} }).start(bytes("\0tim\0tanstaaftanstaaf"));
    expect(step).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("no_nul_is_invalid_response", async () => {
    expect(await failure(bytes("timtanstaaftanstaaf"), "invalid-response")).toBe("PLAIN message must have exactly 3 NUL-separated fields, got 1.");
  });

  it("one_nul_is_invalid_response", async () => {
    await failure(bytes("tim\0tanstaaftanstaaf"), "invalid-response");
  });

  it("extra_fields_are_invalid_response", async () => {
    expect(await failure(bytes("\0tim\0tanstaaftanstaaf\0extra"), "invalid-response")).toContain("got 4");
  });

  it("empty_message_is_invalid_response", async () => {
    await failure(empty, "invalid-response");
  });

  it("empty_authcid_is_invalid_response", async () => {
    await failure(bytes("\0\0tanstaaftanstaaf"), "invalid-response");
  });

  it("empty_password_is_invalid_response", async () => {
    await failure(bytes("\0tim\0"), "invalid-response");
  });

  it.each([
    ["authorization identity", Uint8Array.of(0xc3, 0x28, 0, 0x74, 0, 0x70)],
    ["authentication identity", Uint8Array.of(0, 0xff, 0, 0x70)],
    ["password", Uint8Array.of(0, 0x74, 0, 0xed, 0xa0, 0x80)],
  ])("non_utf8_%s_is_invalid_response", async (what, message) => {
    expect(await failure(message, "invalid-response")).toBe(`PLAIN ${what} is not valid UTF-8.`);
  });

  it("field_of_255_octets_is_accepted_256_refused", async () => {
    const long = "p".repeat(PLAIN_MAX_FIELD_OCTETS);
    const ok = await server({ tim: long }).start(bytes(`\0tim\0${long}`));
    expect(ok.type).toBe("success");
    const tooLong = await server({ tim: long + "p" }).start(bytes(`\0tim\0${long}p`));
    expect(tooLong).toMatchObject({ type: "failure", code: "invalid-response", message: "PLAIN password is longer than 255 octets." });
  });

  it("parse_plain_message_returns_fields", () => {
    expect(parsePlainMessage(bytes("Ursel\0Kurt\0xipj3plmq"))).toEqual({ authzid: "Ursel", authcid: "Kurt", password: "xipj3plmq" });
  });

  it("start_twice_and_step_before_start_are_bad_state", async () => {
    const a = s();
    await a.start(null);
    await expect(a.start(null)).rejects.toMatchObject({ code: "bad-state", mechanism: "PLAIN" });
    await expect(s().step(bytes("\0tim\0x"))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("step_after_outcome_is_bad_state", async () => {
    const a = s();
    await a.start(bytes("\0tim\0wrong"));
    await expect(a.step(bytes("\0tim\0tanstaaftanstaaf"))).rejects.toMatchObject({ code: "bad-state" });
  });
});

describe("PLAIN provider", () => {
  it("declares_its_descriptor", () => {
    expect(plain).toMatchObject({
      name: "PLAIN",
      priority: 300,
      clientFirst: true,
      needs: [USERNAME, PASSWORD],
      security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false, secretInFirstMessage: true },
    });
  });

  it("creates_a_fresh_client_per_exchange", () => {
    const context = { credentials: Credentials.from({ username: "u", password: "p" }), channel: { secure: true }, offered: ["PLAIN"], options: {} };
    expect(plain.createClient(context)).not.toBe(plain.createClient(context));
  });

  it("register_plain_registers_the_provider_in_a_container", () => {
    const child = container.createChildContainer();
    registerPlain(child);
    const registry = MechanismRegistry.fromContainer(child);
    expect(registry.get("PLAIN")).toBe(plain);
    expect(registry.names()).toEqual(["PLAIN"]);
  });
});

describe("PLAIN README", () => {
  it("readme_example_runs", async () => {
    const negotiation = negotiate([plain], {
      offered: ["PLAIN"],
      credentials: { username: "tim", password: "tanstaaftanstaaf" },
      channel: { secure: true },
    });
    const s = new PlainServer({ callbacks: { verifyPassword: (u, p) => u === "tim" && p === "tanstaaftanstaaf" } });
    const result = await authenticate(negotiation, pairedExchange(s));
    expect(result.mechanism).toBe("PLAIN");
  });

  it("plain_is_refused_on_a_cleartext_channel_by_default", () => {
    const plan = planNegotiation([plain], { offered: ["PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: false } });
    expect(plan.candidates).toEqual([]);
    expect(plan.refused[0]?.reason).toBe("cleartext-password");
  });
});

describe("PLAIN SASLprep opt-in (issue 13 item 7)", () => {
  const input = { username: "I\u00ADX", password: "pass\u00A0word", authzid: "Ad\u00ADmin" };
  const message = async (prepare?: "saslprep" | "none") =>
    Buffer.from(await new PlainClient({ credentials: Credentials.from(input), ...(prepare ? { prepare } : {}) }).start()).toString("utf8");

  it("sends credentials as given by default", async () => {
    expect(await message()).toBe("Ad\u00ADmin\0I\u00ADX\0pass\u00A0word");
    expect(await message("none")).toBe("Ad\u00ADmin\0I\u00ADX\0pass\u00A0word");
  });

  it("prepares the username and password (not the authzid) when asked", async () => {
    expect(await message("saslprep")).toBe("Ad\u00ADmin\0IX\0pass word");
  });

  it("refuses a password SASLprep prohibits, without echoing it", async () => {
    const client = new PlainClient({ credentials: Credentials.from({ username: "u", password: "bell\u0007secret" }), prepare: "saslprep" });
    const error = (await client.start().catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: "invalid-credentials-input" });
    expect(error.message).not.toContain("secret");
  });

  it("reaches PLAIN through negotiation", async () => {
    const server = plain.createServer!({ callbacks: { verifyPassword: (u, p) => u === "IX" && p === "pass word" }, channel: { secure: true }, hostname: "h", options: {} });
    const plan = negotiate([plain], { offered: ["PLAIN"], credentials: { username: "I\u00ADX", password: "pass\u00A0word" }, channel: { secure: true }, prepare: "saslprep" });
    await expect(authenticate(plan, pairedExchange(server))).resolves.toMatchObject({ mechanism: "PLAIN" });
  });
});

describe("PlainClient.start: always a promise, whether the password is a value or a function", () => {
  it("resolves with the same bytes for a value and for a function, and rejects (never throws) on a second call or bad input", async () => {
    const given = client({ username: "tim", password: "tanstaaftanstaaf" });
    const prompted = client({ username: "tim", password: async () => "tanstaaftanstaaf" });
    const a = given.start();
    const b = prompted.start();
    expect(a).toBeInstanceOf(Promise);
    expect(b).toBeInstanceOf(Promise);
    expect(await a).toEqual(await b);
    expect(given.state).toBe(PlainClientState.sent);
    await rejects(given.start(), "bad-state");
    const noUser = client({ username: "", password: "x" }).start();
    expect(noUser).toBeInstanceOf(Promise);
    await rejects(noUser, "invalid-credentials-input");
    await rejects(client({ username: "tim" }).start(), "missing-credentials");
  });
});

describe("PLAIN never sends its message twice (security review: a hostile empty challenge)", () => {
  const password = "hunter2-secret-pw";
  const message = `\0tim\0${password}`;
  const base64 = Buffer.from(message).toString("base64");

  /** A server that answers every client message with an empty challenge; records what it got. */
  function emptyChallenger() {
    const seen: (Uint8Array | null)[] = [];
    let cancelled = 0;
    const exchange: SaslExchange = {
      async begin(_mechanism, initial) {
        seen.push(initial);
        return { type: "challenge", data: empty };
      },
      async respond(response) {
        seen.push(response);
        return { type: "challenge", data: empty };
      },
      async cancel() {
        cancelled++;
        return { type: "failure", code: "aborted", reply: { status: "501", text: "cancelled" } };
      },
    };
    const copies = () => seen.filter((m) => m !== null && Buffer.from(m).toString("utf8") === message).length;
    return { exchange, seen, copies, cancelled: () => cancelled };
  }

  const negotiation = () => negotiate([plain], { offered: ["PLAIN"], credentials: { username: "tim", password }, channel: { secure: true } });

  it("an empty challenge after the initial response is refused (bad-state), cancelled, and the password went out once", async () => {
    const server = emptyChallenger();
    const error = await rejects(authenticate(negotiation(), server.exchange), "bad-state");
    expect(server.copies()).toBe(1);
    expect(server.seen).toHaveLength(1);
    expect(server.cancelled()).toBe(1);
    expect(error.secretSent).toBe(true);
    expect(error.attempts).toHaveLength(1);
    expect(error.message).not.toContain(password);
    expect(error.message).not.toContain(base64);
  });

  it("with the initial response deferred (no SASL-IR, long line): the driver answers the first empty challenge, PLAIN refuses the second", async () => {
    const server = emptyChallenger();
    await rejects(authenticate(negotiation(), server.exchange, { initialResponseFits: () => false }), "bad-state");
    expect(server.seen[0]).toBeNull();
    expect(server.copies()).toBe(1);
    expect(server.seen).toHaveLength(2);
    expect(server.cancelled()).toBe(1);
  });

  it("runExchange alone: the same refusal", async () => {
    const server = emptyChallenger();
    await rejects(runExchange(client({ username: "tim", password: async () => password }), server.exchange), "bad-state");
    expect(server.copies()).toBe(1);
  });
});
