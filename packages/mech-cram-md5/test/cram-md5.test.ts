import { describe, expect, it } from "vitest";
import { container } from "tsyringe";
import {
  Credentials,
  utf8,
  MechanismRegistry,
  SaslError,
  authenticate,
  negotiate,
  pairedExchange,
  planNegotiation,
  runExchange,
  type CredentialsInput,
  type ServerCallbacks,
  PASSWORD,
  USERNAME,
} from "@saslkit/core";
import { CramMd5Client, CramMd5Server, cramMd5, registerCramMd5 } from "@saslkit/mech-cram-md5";
import { CRAM_MD5_MAX_CHALLENGE_BYTES, CramMd5ClientState, CramMd5ServerState, cramMd5Digest, makeCramMd5Challenge } from "../src/cram-md5.js";

const b64 = (bytes: Uint8Array | null): string => Buffer.from(bytes ?? []).toString("base64");
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"));
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"));
const text = (data: Uint8Array): string => Buffer.from(data).toString("utf8");

/** RFC 2195 §2 example. */
const RFC2195 = {
  challenge: "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
  decoded: "<1896.697170952@postoffice.reston.mci.net>",
  response: "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw",
  user: "tim",
  secret: "tanstaaftanstaaf",
};

const client = (input: CredentialsInput): CramMd5Client => new CramMd5Client({ credentials: Credentials.from(input) });
const server = (users: Record<string, string>, challenge?: string, extra: ServerCallbacks = {}): CramMd5Server =>
  new CramMd5Server(
    { callbacks: { lookupPassword: (u) => users[u], ...extra }, hostname: "mail.example.org" },
    challenge === undefined ? {} : { makeChallenge: () => challenge },
  );

async function rejects(promise: Promise<unknown> | (() => unknown), code: string): Promise<SaslError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(SaslError);
    expect((error as SaslError).code).toBe(code);
    expect((error as SaslError).mechanism).toBe("CRAM-MD5");
    return error as SaslError;
  }
  throw new Error(`expected SaslError ${code}`);
}

describe("CRAM-MD5 RFC vectors", () => {
  it("rfc2195_example", async () => {
    // S: + PDE4OTYu... / C: dGltIGI5MTNh... / S: OK
    const c = client({ username: RFC2195.user, password: RFC2195.secret });
    expect(c.start()).toBeNull();
    const challenge = unb64(RFC2195.challenge);
    expect(text(challenge)).toBe(RFC2195.decoded);
    const response = await c.step(challenge);
    expect(b64(response)).toBe(RFC2195.response);
    expect(text(response)).toBe("tim b913a602c7eda7a495b4e6e7334d3890");
    expect(c.complete).toBe(true);
    expect(c.state).toBe(CramMd5ClientState.done);
    await c.finish(null);
    await rejects(c.step(challenge), "bad-state");
  });

  it("rfc2195_example_through_the_server_half", async () => {
    const exchange = pairedExchange(server({ tim: RFC2195.secret }, RFC2195.decoded));
    expect(await runExchange(client({ username: "tim", password: RFC2195.secret }), exchange)).toBe(1);
    expect(exchange.sent.length).toBe(2);
    expect(exchange.sent[0]).toBeNull();
    expect(b64(exchange.sent[1] ?? null)).toBe(RFC2195.response);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("cpython_variant_without_closing_bracket_hashes_raw_bytes", async () => {
    const challenge = unb64("PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ=");
    expect(text(challenge)).toBe("<1896.697170952@postoffice.reston.mci.net");
    const c = client({ username: "tim", password: RFC2195.secret });
    c.start();
    expect(b64(await c.step(challenge))).toBe("dGltIGYxY2E2YmU0NjRiOWVmYTFjY2E2ZmZkNmNmMmQ5ZjMy");
    await rejects(c.step(challenge), "bad-state");
  });

  it("rfc4954_smtp_transcript_framing", async () => {
    // 334 PENCeUxF... / ZnJlZCA5ZTk1... : the RFC gives no password, so only the shape is checked.
    const challenge = unb64("PENCeUxFREJoU0NnbmhNWitOMjNGNndAZWx3b29kLmlubm9zb2Z0LmNvbT4=");
    expect(text(challenge)).toBe("<CByLEDBhSCgnhMZ+N23F6w@elwood.innosoft.com>");
    const rfcResponse = unb64("ZnJlZCA5ZTk1YWVlMDljNDBhZjJiODRhMGMyYjNiYmFlNzg2ZQ==");
    expect(text(rfcResponse)).toBe("fred 9e95aee09c40af2b84a0c2b3bbae786e");
    const ours = text(await (client({ username: "fred", password: "unknown" }).step(challenge)));
    expect(ours).toMatch(/^fred [0-9a-f]{32}$/);
    // The server half parses the RFC's response as well-formed (a digest mismatch, not a parse error).
    const s = server({ fred: "unknown" }, text(challenge));
    s.start(null);
    expect(await s.step(rfcResponse)).toMatchObject({ type: "failure", code: "authentication-failed" });
  });
});

describe("CRAM-MD5 raw challenge bytes", () => {
  it("non_utf8_challenge_is_hashed_as_is", async () => {
    // Expected value computed with Python's hmac module.
    const c = client({ username: "tim", password: RFC2195.secret });
    expect(text(await c.step(Uint8Array.of(0xff, 0xfe, 0x3c, 0x80, 0x3e)))).toBe("tim 6b40c5f0dd95e1f918c071d748539a1d");
  });

  it("non_ascii_credentials_are_utf8", async () => {
    const c = client({ username: "ümlaut", password: "pässwörd-ü" });
    const response = await c.step(bytes(RFC2195.decoded));
    expect(response).toEqual(bytes("ümlaut 335948f17e3c6f007db1743330b24d6b"));
    const exchange = pairedExchange(server({ "ümlaut": "pässwörd-ü" }));
    await runExchange(client({ username: "ümlaut", password: "pässwörd-ü" }), exchange);
    expect(exchange.outcome?.identity?.authcid).toBe("ümlaut");
  });

  it("digest_helper_matches_the_rfc", () => {
    expect(cramMd5Digest(RFC2195.secret, bytes(RFC2195.decoded))).toBe("b913a602c7eda7a495b4e6e7334d3890");
  });
});

describe("CRAM-MD5 client bad input", () => {
  it("empty_challenge_is_invalid_challenge", async () => {
    const c = client({ username: "tim", password: "p" });
    c.start();
    const error = await rejects(c.step(new Uint8Array(0)), "invalid-challenge");
    expect(error.message).toBe("CRAM-MD5: challenge is empty.");
    expect(c.complete).toBe(false);
  });

  it("oversized_challenge_is_invalid_challenge", async () => {
    const c = client({ username: "tim", password: "p" });
    await rejects(c.step(new Uint8Array(CRAM_MD5_MAX_CHALLENGE_BYTES + 1).fill(0x3c)), "invalid-challenge");
    expect(await c.step(new Uint8Array(CRAM_MD5_MAX_CHALLENGE_BYTES).fill(0x3c))).toHaveLength(4 + 32);
  });

  it("step_after_completion_is_bad_state", async () => {
    const c = client({ username: "tim", password: "p" });
    await c.step(bytes("<1@x>"));
    const error = await rejects(c.step(bytes("<2@x>")), "bad-state");
    expect(error.message).toBe("CRAM-MD5: the exchange is already complete; CRAM-MD5 answers one challenge.");
  });

  it("start_twice_is_bad_state", async () => {
    const c = client({ username: "tim", password: "p" });
    c.start();
    await rejects(() => c.start(), "bad-state");
  });

  it("success_before_the_response_is_bad_state", async () => {
    await rejects(() => client({ username: "tim", password: "p" }).finish(null), "bad-state");
  });

  it("empty_username_is_refused", async () => {
    await rejects(() => client({ username: "", password: "p" }).start(), "invalid-credentials-input");
  });

  it("missing_credentials_are_refused_at_start", async () => {
    await rejects(() => client({ username: "tim" }).start(), "missing-credentials");
    await rejects(() => client({ password: "p" }).start(), "missing-credentials");
  });

  it("lone_surrogate_in_password_is_refused_without_quoting_it", async () => {
    const error = await rejects(client({ username: "tim", password: "secret\uDC00" }).step(bytes("<1@x>")), "invalid-credentials-input");
    expect(error.message).not.toContain("secret");
  });

  it("null_initial_response_differs_from_empty", () => {
    const ir = client({ username: "tim", password: "p" }).start();
    expect(ir).toBeNull();
    expect(ir).not.toEqual(new Uint8Array(0));
    expect(cramMd5.clientFirst).toBe(false);
  });
});

describe("CRAM-MD5 client against server", () => {
  const users = { tim: RFC2195.secret, "jane doe": "x y z" };

  it("right_password_succeeds", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "tim", password: RFC2195.secret }), exchange);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("wrong_password_fails_with_authentication_failed", async () => {
    const exchange = pairedExchange(server(users));
    const error = await rejects(runExchange(client({ username: "tim", password: "guess" }), exchange), "authentication-failed");
    expect(exchange.outcome).toEqual({ failure: "authentication-failed" });
    expect(error.message).not.toContain("guess");
  });

  it("unknown_user_fails_with_authentication_failed", async () => {
    const asked: string[] = [];
    const exchange = pairedExchange(server(users, undefined, { lookupPassword: (u) => (asked.push(u), undefined) }));
    await rejects(runExchange(client({ username: "nobody", password: "x" }), exchange), "authentication-failed");
    expect(asked).toEqual(["nobody"]);
  });

  it("user_name_with_a_space_is_split_at_the_last_space", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "jane doe", password: "x y z" }), exchange);
    expect(exchange.outcome?.identity?.authcid).toBe("jane doe");
  });

  it("authzid_is_not_carried", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "tim", password: RFC2195.secret, authzid: "boss" }), exchange);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("missing_lookup_callback_is_authentication_failed", async () => {
    const s = new CramMd5Server({ callbacks: {}, hostname: "h" });
    const challenge = s.start(null);
    const response = await client({ username: "tim", password: "p" }).step(challenge.type === "challenge" ? challenge.data : new Uint8Array(0));
    expect(await s.step(response)).toMatchObject({ type: "failure", code: "authentication-failed" });
  });
});

describe("CRAM-MD5 server half", () => {
  it("challenge_is_random_timestamp_at_hostname_and_unique", () => {
    const a = server({}).start(null);
    const b = server({}).start(null);
    expect(a.type).toBe("challenge");
    const ca = a.type === "challenge" ? text(a.data) : "";
    const cb = b.type === "challenge" ? text(b.data) : "";
    expect(ca).toMatch(/^<\d+\.\d+@mail\.example\.org>$/);
    expect(ca).not.toBe(cb);
    expect(makeCramMd5Challenge("")).toMatch(/^<\d+\.\d+@localhost>$/);
  });

  it.each([
    ["an empty", new Uint8Array(0)],
    ["a non-empty", bytes("tim 0123456789abcdef0123456789abcdef")],
  ])("%s_initial_response_is_invalid_response", (_what, initial) => {
    const s = server({ tim: "p" });
    expect(s.start(initial)).toEqual({ type: "failure", code: "invalid-response", message: "CRAM-MD5 takes no initial response." });
    expect(s.state).toBe(CramMd5ServerState.done);
  });

  const respond = async (response: Uint8Array) => {
    const s = server({ tim: RFC2195.secret }, RFC2195.decoded);
    s.start(null);
    return s.step(response);
  };

  it("uppercase_hex_digest_is_accepted", async () => {
    expect((await respond(bytes("tim B913A602C7EDA7A495B4E6E7334D3890"))).type).toBe("success");
  });

  it.each([
    ["no_space", "timb913a602c7eda7a495b4e6e7334d3890"],
    ["empty_user", " b913a602c7eda7a495b4e6e7334d3890"],
    ["short_digest", "tim b913a602c7eda7a495b4e6e7334d389"],
    ["long_digest", "tim b913a602c7eda7a495b4e6e7334d38900"],
    ["non_hex_digest", "tim z913a602c7eda7a495b4e6e7334d3890"],
    ["trailing_space", "tim b913a602c7eda7a495b4e6e7334d3890 "],
    ["empty", ""],
  ])("malformed_response_%s_is_invalid_response", async (_name, response) => {
    expect(await respond(bytes(response))).toEqual({
      type: "failure",
      code: "invalid-response",
      message: "CRAM-MD5 response must be a user name, a space and 32 hex digits.",
    });
  });

  it("non_utf8_response_is_invalid_response", async () => {
    expect(await respond(Uint8Array.of(0xff, 0x20, ...bytes("b913a602c7eda7a495b4e6e7334d3890")))).toEqual({
      type: "failure",
      code: "invalid-response",
      message: "CRAM-MD5 response is not valid UTF-8.",
    });
  });

  it("oversized_response_is_invalid_response", async () => {
    expect(await respond(bytes("a".repeat(1024) + " b913a602c7eda7a495b4e6e7334d3890"))).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("digest_for_another_challenge_fails", async () => {
    // A replayed response to an earlier challenge must not authenticate.
    const s = server({ tim: RFC2195.secret });
    s.start(null);
    expect(await s.step(unb64(RFC2195.response))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("step_before_start_after_outcome_and_start_twice_are_bad_state", async () => {
    await rejects(server({}).step(bytes("tim x")), "bad-state");
    const s = server({ tim: "p" });
    s.start(null);
    await rejects(() => s.start(null), "bad-state");
    await s.step(bytes("tim 00000000000000000000000000000000"));
    await rejects(s.step(bytes("tim 00000000000000000000000000000000")), "bad-state");
  });
});

describe("CRAM-MD5 provider", () => {
  it("declares_its_descriptor", () => {
    expect(cramMd5).toMatchObject({
      name: "CRAM-MD5",
      priority: 400,
      clientFirst: false,
      needs: [USERNAME, PASSWORD],
      security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
    });
  });

  it("is_usable_without_tls_because_no_secret_crosses_the_wire", () => {
    const plan = planNegotiation([cramMd5], { offered: ["CRAM-MD5"], credentials: { username: "u", password: "p" }, channel: { secure: false } });
    expect(plan.candidates).toEqual([cramMd5]);
  });

  it("register_cram_md5_registers_the_provider_in_a_container", () => {
    const child = container.createChildContainer();
    registerCramMd5(child);
    expect(MechanismRegistry.fromContainer(child).get("cram-md5")).toBe(cramMd5);
  });

  it("readme_example_runs", async () => {
    const negotiation = negotiate([cramMd5], {
      offered: ["CRAM-MD5"],
      credentials: { username: "tim", password: "tanstaaftanstaaf" },
      channel: { secure: true },
    });
    const s = new CramMd5Server({ hostname: "mail.example.org", callbacks: { lookupPassword: (u) => (u === "tim" ? "tanstaaftanstaaf" : undefined) } });
    const result = await authenticate(negotiation, pairedExchange(s));
    expect(result).toMatchObject({ mechanism: "CRAM-MD5", rounds: 1 });
  });
});

describe("CRAM-MD5 SASLprep opt-in (issue 13 item 7)", () => {
  const challenge = utf8("<1896.697170952@postoffice.example.net>");
  const respond = async (input: { username: string; password: string }, prepare?: "saslprep") => {
    const client = new CramMd5Client({ credentials: Credentials.from(input), ...(prepare ? { prepare } : {}) });
    client.start();
    return Buffer.from(await client.step(challenge)).toString("utf8");
  };
  it("hashes the password as given by default", async () => {
    expect(await respond({ username: "I\u00ADX", password: "pass\u00A0word" })).toBe(`I\u00ADX ${cramMd5Digest("pass\u00A0word", challenge)}`);
  });
  it("hashes the prepared password and sends the prepared name when asked, as GNU SASL does", async () => {
    expect(await respond({ username: "I\u00ADX", password: "pass\u00A0word" }, "saslprep")).toBe(await respond({ username: "IX", password: "pass word" }));
  });
});

describe("CRAM-MD5 secretUsed: no fallback once the digest went out", () => {
  it("is false before and true once the response is produced", async () => {
    const c = client({ username: RFC2195.user, password: RFC2195.secret });
    c.start();
    expect(c.secretUsed).toBe(false);
    await c.step(unb64(RFC2195.challenge));
    expect(c.secretUsed).toBe(true);
  });
});

describe("overlapping calls on one exchange (public API; the driver never makes them)", () => {
  it("a second step while the password is read is bad-state; one digest, the right one", async () => {
    let release!: (value: string) => void;
    let asked = 0;
    const c = client({ username: RFC2195.user, password: () => (asked++, new Promise<string>((resolve) => (release = resolve))) });
    expect(c.start()).toBeNull();
    const first = c.step(bytes(RFC2195.decoded));
    await expect(c.step(bytes(RFC2195.decoded))).rejects.toMatchObject({ code: "bad-state", mechanism: "CRAM-MD5" });
    release(RFC2195.secret);
    expect(b64(await first)).toBe(RFC2195.response);
    expect(asked).toBe(1);
    expect(c.state).toBe(CramMd5ClientState.done);
    c.finish();
  });
});
