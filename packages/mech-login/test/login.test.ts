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
  runExchange,
  type CredentialsInput,
  type ServerCallbacks,
  PASSWORD,
  USERNAME,
} from "@saslkit/core";
import { LoginClient, LoginServer, login, registerLogin } from "@saslkit/mech-login";
import { LOGIN_MAX_CHALLENGE_BYTES, LOGIN_MAX_FIELD_OCTETS, LoginClientState, LoginServerState } from "../src/login.js";

const b64 = (bytes: Uint8Array | null): string => Buffer.from(bytes ?? []).toString("base64");
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "base64"));
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"));
const empty = new Uint8Array(0);

const client = (input: CredentialsInput, options: Record<string, unknown> = {}): LoginClient =>
  new LoginClient({ credentials: Credentials.from(input), options });
const server = (users: Record<string, string>, extra: ServerCallbacks = {}): LoginServer =>
  new LoginServer({ callbacks: { verifyPassword: (u, p) => users[u] === p, ...extra } });

async function rejects(promise: Promise<unknown>, code: string): Promise<SaslError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SaslError);
    expect((error as SaslError).code).toBe(code);
    expect((error as SaslError).mechanism).toBe("LOGIN");
    return error as SaslError;
  }
  throw new Error(`expected SaslError ${code}`);
}

describe("LOGIN vectors", () => {
  it("draft_murchison_2_3_user_name_nul_prompts", async () => {
    // S: 334 VXNlciBOYW1lAA== / C: dGlt / S: 334 UGFzc3dvcmQA / C: dGFuc3RhYWZ0YW5zdGFhZg== / S: 235
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    expect(await c.start()).toBeNull();
    expect(unb64("VXNlciBOYW1lAA==")).toEqual(bytes("User Name\0"));
    expect(b64(await c.step(unb64("VXNlciBOYW1lAA==")))).toBe("dGlt");
    expect(c.complete).toBe(false);
    expect(c.state).toBe(LoginClientState.awaitingPassword);
    expect(b64(await c.step(unb64("UGFzc3dvcmQA")))).toBe("dGFuc3RhYWZ0YW5zdGFhZg==");
    expect(c.complete).toBe(true);
    expect(c.state).toBe(LoginClientState.done);
    await c.finish(null);
    await rejects(c.step(unb64("UGFzc3dvcmQA")), "bad-state");
  });

  it("de_facto_username_password_prompts_from_the_server_half", async () => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    const s = server({ tim: "tanstaaftanstaaf" });
    const first = await s.start(await c.start());
    expect(first.type === "challenge" && b64(first.data)).toBe("VXNlcm5hbWU6"); // Username:
    expect(s.state).toBe(LoginServerState.awaitingUsername);
    const user = await c.step(first.type === "challenge" ? first.data : empty);
    expect(b64(user)).toBe("dGlt");
    const second = await s.step(user);
    expect(second.type === "challenge" && b64(second.data)).toBe("UGFzc3dvcmQ6"); // Password:
    const pass = await c.step(second.type === "challenge" ? second.data : empty);
    expect(b64(pass)).toBe("dGFuc3RhYWZ0YW5zdGFhZg==");
    expect(await s.step(pass)).toEqual({ type: "success", identity: { authcid: "tim", authzid: "tim" } });
    expect(c.complete).toBe(true);
    await rejects(c.step(bytes("Password:")), "bad-state");
    await expect(s.step(pass)).rejects.toMatchObject({ code: "bad-state", mechanism: "LOGIN" });
  });
});

describe("LOGIN prompt text is ignored", () => {
  it.each([
    ["Username:", "Password:"],
    ["User Name\0", "Password\0"],
    ["", ""],
    ["USERNAME:", "PASSWORD:"],
    ["Please enter your user name, friend", "And now the secret"],
    ["Password:", "Username:"], // misleading order still goes by position
  ])("prompts %j then %j", async (first, second) => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    await c.start();
    expect(await c.step(bytes(first))).toEqual(bytes("tim"));
    expect(await c.step(bytes(second))).toEqual(bytes("tanstaaftanstaaf"));
    expect(c.complete).toBe(true);
  });

  it("non_utf8_prompts_are_fine", async () => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    await c.start();
    expect(await c.step(Uint8Array.of(0xff, 0xfe, 0x80))).toEqual(bytes("tim"));
    expect(await c.step(Uint8Array.of(0xc3, 0x28))).toEqual(bytes("tanstaaftanstaaf"));
  });

  it("prompt_of_exactly_the_limit_is_accepted", async () => {
    const c = client({ username: "tim", password: "p" });
    await c.start();
    expect(await c.step(new Uint8Array(LOGIN_MAX_CHALLENGE_BYTES).fill(0x41))).toEqual(bytes("tim"));
  });
});

describe("LOGIN initial response", () => {
  it("null_initial_response_by_default_differs_from_empty", async () => {
    const ir = await client({ username: "tim", password: "p" }).start();
    expect(ir).toBeNull();
    expect(ir).not.toEqual(empty);
    expect(login.clientFirst).toBe(false);
  });

  it("initial_response_option_sends_the_username", async () => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf" }, { login: { initialResponse: true } });
    expect(await c.start()).toEqual(bytes("tim"));
    expect(c.state).toBe(LoginClientState.awaitingPassword);
    expect(await c.step(bytes("Password:"))).toEqual(bytes("tanstaaftanstaaf"));
    expect(c.complete).toBe(true);
  });

  it("server_accepts_the_username_as_initial_response", async () => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf" }, { login: { initialResponse: true } });
    const exchange = pairedExchange(server({ tim: "tanstaaftanstaaf" }));
    expect(await runExchange(c, exchange)).toBe(1);
    expect(exchange.sent.map(b64)).toEqual(["dGlt", "dGFuc3RhYWZ0YW5zdGFhZg=="]);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("option_other_than_true_keeps_the_default", async () => {
    expect(await client({ username: "tim", password: "p" }, { login: { initialResponse: "yes" } }).start()).toBeNull();
    expect(await client({ username: "tim", password: "p" }, { login: null }).start()).toBeNull();
  });
});

describe("LOGIN client against server", () => {
  const users = { tim: "tanstaaftanstaaf", "ümlaut": "pässwörd-ü" };

  it("right_password_succeeds_in_two_rounds", async () => {
    const exchange = pairedExchange(server(users));
    expect(await runExchange(client({ username: "tim", password: "tanstaaftanstaaf" }), exchange)).toBe(2);
    expect(exchange.sent).toEqual([null, bytes("tim"), bytes("tanstaaftanstaaf")]);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("wrong_password_fails_with_authentication_failed", async () => {
    const exchange = pairedExchange(server(users));
    const error = await rejects(runExchange(client({ username: "tim", password: "not-it" }), exchange), "authentication-failed");
    expect(exchange.outcome).toEqual({ failure: "authentication-failed" });
    expect(error.message).not.toContain("not-it");
  });

  it("unknown_user_fails_with_authentication_failed", async () => {
    await rejects(runExchange(client({ username: "nobody", password: "x" }), pairedExchange(server(users))), "authentication-failed");
  });

  it("non_ascii_credentials_are_utf8", async () => {
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "ümlaut", password: "pässwörd-ü" }), exchange);
    expect(exchange.sent[1]).toEqual(Uint8Array.from([0xc3, 0xbc, ...bytes("mlaut")]));
    expect(exchange.sent[2]).toEqual(bytes("pässwörd-ü"));
    expect(exchange.outcome?.identity?.authcid).toBe("ümlaut");
  });

  it("authzid_is_not_carried: identity_is_the_username", async () => {
    // LOGIN has no authorization identity (draft §2); an authzid in the credentials is not sent.
    const exchange = pairedExchange(server(users));
    await runExchange(client({ username: "tim", password: "tanstaaftanstaaf", authzid: "other" }), exchange);
    expect(exchange.outcome?.identity).toEqual({ authcid: "tim", authzid: "tim" });
  });

  it("empty_password_is_sent_as_empty", async () => {
    const exchange = pairedExchange(server({ guest: "" }));
    await runExchange(client({ username: "guest", password: "" }), exchange);
    expect(exchange.sent[2]).toEqual(empty);
    expect(exchange.outcome?.identity?.authcid).toBe("guest");
  });
});

describe("LOGIN client bad input", () => {
  it("third_challenge_is_bad_state", async () => {
    const c = client({ username: "tim", password: "p" });
    await c.start();
    await c.step(bytes("Username:"));
    await c.step(bytes("Password:"));
    const error = await rejects(c.step(bytes("Again:")), "bad-state");
    expect(error.message).toBe("LOGIN: the server sent a third challenge; LOGIN answers only two (username, password).");
  });

  it("third_challenge_through_the_session_driver_cancels", async () => {
    // A server that loops on prompts: the client gives up with bad-state.
    let prompts = 0;
    const exchange = {
      begin: async () => ({ type: "challenge" as const, data: bytes("Username:") }),
      respond: async () => (++prompts, { type: "challenge" as const, data: bytes("Password:") }),
      cancel: async () => ({ type: "failure" as const, code: "aborted" as const, reply: { status: "501", text: "cancelled" } }),
    };
    await rejects(runExchange(client({ username: "tim", password: "p" }), exchange), "bad-state");
    expect(prompts).toBe(2);
  });

  it("oversized_challenge_is_invalid_challenge", async () => {
    const c = client({ username: "tim", password: "p" });
    await c.start();
    await rejects(c.step(new Uint8Array(LOGIN_MAX_CHALLENGE_BYTES + 1)), "invalid-challenge");
    expect(c.state).toBe(LoginClientState.awaitingUsername);
  });

  it("start_twice_is_bad_state", async () => {
    const c = client({ username: "tim", password: "p" });
    await c.start();
    await rejects(c.start(), "bad-state");
  });

  it("success_before_password_is_bad_state", async () => {
    const c = client({ username: "tim", password: "p" });
    await c.start();
    await c.step(empty);
    await rejects(Promise.resolve().then(() => c.finish(null)), "bad-state");
  });

  it.each([
    ["username", { username: "t\0im", password: "secret-pw" }, "start"],
    ["username", { username: "tim\r\nRCPT", password: "secret-pw" }, "start"],
    ["password", { username: "tim", password: "sec\0ret-pw" }, "step"],
    ["password", { username: "tim", password: "secret-pw\n" }, "step"],
  ])("reject_nul_cr_lf in the %s", async (what, input, where) => {
    const c = client(input);
    const run = async () => {
      await c.start();
      await c.step(empty);
      await c.step(empty);
    };
    const error = await rejects(run(), "invalid-credentials-input");
    expect(error.message).toBe(`LOGIN: the ${what} contains a NUL, CR or LF character, which LOGIN cannot carry.`);
    expect(error.message).not.toContain("secret");
    expect(c.state).toBe(where === "start" ? LoginClientState.awaitingUsername : LoginClientState.awaitingPassword);
  });

  it("empty_username_is_refused_at_start", async () => {
    await rejects(client({ username: "", password: "p" }).start(), "invalid-credentials-input");
  });

  it("missing_password_is_refused_at_start", async () => {
    await rejects(client({ username: "tim" }).start(), "missing-credentials");
  });

  it("missing_username_is_refused_at_start", async () => {
    await rejects(client({ password: "p" }).start(), "missing-credentials");
  });
});

describe("LOGIN server bad input", () => {
  const started = async (): Promise<LoginServer> => {
    const s = server({ tim: "tanstaaftanstaaf" });
    await s.start(null);
    return s;
  };

  it("wrong_password_is_authentication_failed", async () => {
    const s = await started();
    await s.step(bytes("tim"));
    expect(await s.step(bytes("wrong"))).toEqual({ type: "failure", code: "authentication-failed", message: "Authentication failed." });
  });

  it("missing_verify_callback_is_authentication_failed", async () => {
    const s = new LoginServer({ callbacks: {} });
    await s.start(bytes("tim"));
    expect(await s.step(bytes("x"))).toMatchObject({ type: "failure", code: "authentication-failed" });
  });

  it("empty_username_is_invalid_response", async () => {
    const s = await started();
    expect(await s.step(empty)).toEqual({ type: "failure", code: "invalid-response", message: "LOGIN username is empty." });
    await expect(s.step(bytes("x"))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("empty_initial_response_is_an_empty_username", async () => {
    expect(await server({}).start(empty)).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("non_utf8_username_is_invalid_response", async () => {
    const s = await started();
    expect(await s.step(Uint8Array.of(0x74, 0xff))).toEqual({ type: "failure", code: "invalid-response", message: "LOGIN username is not valid UTF-8." });
  });

  it("non_utf8_password_is_invalid_response", async () => {
    const s = await started();
    await s.step(bytes("tim"));
    expect(await s.step(Uint8Array.of(0xed, 0xa0, 0x80))).toEqual({ type: "failure", code: "invalid-response", message: "LOGIN password is not valid UTF-8." });
  });

  it("nul_in_username_is_invalid_response", async () => {
    const s = await started();
    expect(await s.step(bytes("tim\0tanstaaftanstaaf"))).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("oversized_field_is_invalid_response", async () => {
    const s = await started();
    expect(await s.step(new Uint8Array(LOGIN_MAX_FIELD_OCTETS + 1).fill(0x61))).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("start_twice_and_step_before_start_are_bad_state", async () => {
    const s = await started();
    await expect(s.start(null)).rejects.toMatchObject({ code: "bad-state" });
    await expect(server({}).step(bytes("tim"))).rejects.toMatchObject({ code: "bad-state" });
  });
});

describe("LOGIN provider", () => {
  it("declares_its_descriptor", () => {
    expect(login).toMatchObject({
      name: "LOGIN",
      priority: 200,
      clientFirst: false,
      needs: [USERNAME, PASSWORD],
      security: { sendsSecretInClear: true, mutualAuth: false, channelBinding: false },
    });
  });

  it("register_login_registers_the_provider_in_a_container", () => {
    const child = container.createChildContainer();
    registerLogin(child);
    expect(MechanismRegistry.fromContainer(child).get("LOGIN")).toBe(login);
  });

  it("readme_example_runs", async () => {
    const negotiation = negotiate([login], {
      offered: ["LOGIN"],
      credentials: { username: "tim", password: "tanstaaftanstaaf" },
      channel: { secure: true },
    });
    const s = new LoginServer({ callbacks: { verifyPassword: (u, p) => u === "tim" && p === "tanstaaftanstaaf" } });
    const result = await authenticate(negotiation, pairedExchange(s));
    expect(result).toMatchObject({ mechanism: "LOGIN", rounds: 2 });
  });
});

describe("LOGIN SASLprep opt-in (issue 13 item 7)", () => {
  const run = async (prepare?: "saslprep") => {
    const client = new LoginClient({ credentials: Credentials.from({ username: "I\u00ADX", password: "pass\u00A0word" }), ...(prepare ? { prepare } : {}) });
    await client.start();
    const user = Buffer.from(await client.step(utf8("Username:"))).toString("utf8");
    const pass = Buffer.from(await client.step(utf8("Password:"))).toString("utf8");
    return [user, pass];
  };
  it("sends credentials as given by default", async () => {
    expect(await run()).toEqual(["I\u00ADX", "pass\u00A0word"]);
  });
  it("prepares username and password when asked", async () => {
    expect(await run("saslprep")).toEqual(["IX", "pass word"]);
  });
});

describe("LOGIN secretUsed: no fallback once the password went out", () => {
  it("is false after the user name and true once the password is produced", async () => {
    const c = client({ username: "tim", password: "tanstaaftanstaaf" });
    await c.start();
    await c.step(bytes("Username:"));
    expect(c.secretUsed).toBe(false);
    await c.step(bytes("Password:"));
    expect(c.secretUsed).toBe(true);
  });
});

describe("overlapping calls on one exchange (public API; the driver never makes them)", () => {
  it("a second step while the password is read is bad-state; the password is read and sent once", async () => {
    let release!: (value: string) => void;
    let asked = 0;
    const c = client({ username: "tim", password: () => (asked++, new Promise<string>((resolve) => (release = resolve))) });
    expect(await c.start()).toBeNull();
    expect(await c.step(bytes("Username:"))).toEqual(bytes("tim"));
    const first = c.step(bytes("Password:"));
    const second = await rejects(c.step(bytes("Password:")), "bad-state");
    expect(second.message).toBe("LOGIN: step() was called while another call of this exchange was still running.");
    release("tanstaaftanstaaf");
    expect(await first).toEqual(bytes("tanstaaftanstaaf"));
    expect(asked).toBe(1);
    expect(c.state).toBe(LoginClientState.done);
    c.finish();
  });
});
