/**
 * Where the four non-password mechanisms land in negotiation, through core's planNegotiation:
 * OAuth only with a token, OAUTHBEARER before XOAUTH2, EXTERNAL only when named or implied by a
 * client certificate without a secret, ANONYMOUS only
 * without credentials, and never an effect of registration or server order.
 */
import { container } from "tsyringe";
import { describe, expect, it } from "vitest";
import { MechanismRegistry, NoMechanismError, authenticate, negotiate, pairedExchange, planNegotiation } from "@saslkit/core";
import type { ChannelInfo, CredentialsInput, MechanismProvider, NegotiationPolicy, SaslExchange } from "@saslkit/core";
import { anonymous, registerAnonymous } from "@saslkit/mech-anonymous";
import { external, registerExternal } from "@saslkit/mech-external";
import { oauthBearer, registerOAuthBearer, registerXOAuth2, xoauth2 } from "@saslkit/mech-oauth";
import { plain } from "@saslkit/mech-plain";

const ALL: readonly MechanismProvider[] = [oauthBearer, xoauth2, external, anonymous];
const OFFERED = ["PLAIN", "ANONYMOUS", "EXTERNAL", "XOAUTH2", "OAUTHBEARER"];
const TLS: ChannelInfo = { secure: true, host: "mail.example.com", port: 993 };

function plan(credentials: CredentialsInput, options: { policy?: NegotiationPolicy; channel?: ChannelInfo; providers?: readonly MechanismProvider[]; offered?: string[] } = {}) {
  return planNegotiation(options.providers ?? ALL, {
    offered: options.offered ?? OFFERED,
    credentials,
    channel: options.channel ?? TLS,
    ...(options.policy ? { policy: options.policy } : {}),
  });
}
const names = (p: ReturnType<typeof plan>) => p.candidates.map((c) => c.name);
const reason = (p: ReturnType<typeof plan>, mechanism: string) => p.refused.find((r) => r.mechanism === mechanism)?.reason;

describe("negotiation slots of OAUTHBEARER, XOAUTH2, EXTERNAL, ANONYMOUS", () => {
  it("a user name and token give OAUTHBEARER, then XOAUTH2; EXTERNAL and ANONYMOUS stay out", () => {
    const p = plan({ username: "alice", token: "tok" });
    expect(names(p)).toEqual(["OAUTHBEARER", "XOAUTH2"]);
    expect(reason(p, "EXTERNAL")).toBe("explicit-only");
    expect(reason(p, "ANONYMOUS")).toBe("unusable");
    expect(reason(p, "PLAIN")).toBe("not-installed");
  });

  it("neither registration order nor the server's order changes the choice", () => {
    const reversed = plan({ username: "alice", token: "tok" }, { providers: [...ALL].reverse(), offered: [...OFFERED].reverse() });
    expect(names(reversed)).toEqual(["OAUTHBEARER", "XOAUTH2"]);
    const a = container.createChildContainer();
    registerAnonymous(a);
    registerXOAuth2(a);
    registerExternal(a);
    registerOAuthBearer(a);
    const b = container.createChildContainer();
    registerOAuthBearer(b);
    registerExternal(b);
    registerXOAuth2(b);
    registerAnonymous(b);
    expect(MechanismRegistry.fromContainer(a).names()).toEqual(["OAUTHBEARER", "XOAUTH2", "EXTERNAL", "ANONYMOUS"]);
    expect(MechanismRegistry.fromContainer(b).names()).toEqual(MechanismRegistry.fromContainer(a).names());
    expect(names(planNegotiation(a, { offered: OFFERED, credentials: { username: "u", token: "t" }, channel: TLS }))).toEqual(["OAUTHBEARER", "XOAUTH2"]);
  });

  it("a token without a user name gives OAUTHBEARER only (XOAUTH2 needs user=)", () => {
    const p = plan({ token: "tok" });
    expect(names(p)).toEqual(["OAUTHBEARER"]);
    expect(reason(p, "XOAUTH2")).toBe("missing-credentials");
  });

  it("a token provider counts as a token", () => {
    expect(names(plan({ username: "alice", tokenProvider: () => "tok" }))).toEqual(["OAUTHBEARER", "XOAUTH2"]);
  });

  it("a password without a token leaves no OAuth candidate and no guest login", () => {
    const p = plan({ username: "alice", password: "pw" });
    expect(names(p)).toEqual([]);
    expect(reason(p, "OAUTHBEARER")).toBe("missing-credentials");
    expect(reason(p, "XOAUTH2")).toBe("missing-credentials");
    expect(reason(p, "ANONYMOUS")).toBe("unusable");
    expect(() => negotiate(ALL, { offered: OFFERED, credentials: { username: "alice", password: "pw" }, channel: TLS })).toThrow(NoMechanismError);
  });

  it("no credentials at all give ANONYMOUS only", () => {
    expect(names(plan({}))).toEqual(["ANONYMOUS"]);
    expect(names(plan({ trace: "guest" }))).toEqual(["ANONYMOUS"]);
  });

  describe("EXTERNAL with a client certificate (issue 13 item 2)", () => {
    const CERT_TLS: ChannelInfo = { ...TLS, clientCertificate: true };
    const WITH_PLAIN = [...ALL, plain];

    it("is chosen unasked when a certificate and no secret were given over TLS", () => {
      expect(names(plan({}, { channel: CERT_TLS }))).toEqual(["EXTERNAL", "ANONYMOUS"]);
      expect(names(plan({ username: "alice" }, { channel: CERT_TLS }))).toEqual(["EXTERNAL"]);
      expect(names(plan({ authzid: "shared" }, { channel: CERT_TLS, providers: WITH_PLAIN }))).toEqual(["EXTERNAL", "ANONYMOUS"]);
    });

    it("with a password too, the password mechanisms keep their order and EXTERNAL stays out", () => {
      const p = plan({ username: "alice", password: "pw" }, { channel: CERT_TLS, providers: WITH_PLAIN });
      expect(names(p)).toEqual(["PLAIN"]);
      expect(p.refused.find((r) => r.mechanism === "EXTERNAL")).toEqual({
        mechanism: "EXTERNAL",
        reason: "explicit-only",
        explanation: "used only when the caller asks for it by name or when no password or other secret is given",
      });
    });

    it("with a token too, the token mechanisms are chosen", () => {
      expect(names(plan({ username: "alice", token: "tok" }, { channel: CERT_TLS }))).toEqual(["OAUTHBEARER", "XOAUTH2"]);
    });

    it("not without TLS, not without a certificate, not when the server does not offer it", () => {
      expect(reason(plan({}, { channel: { secure: false, loopback: true, clientCertificate: true } }), "EXTERNAL")).toBe("explicit-only");
      expect(plan({}, { channel: TLS }).refused.find((r) => r.mechanism === "EXTERNAL")?.explanation).toBe(
        "used only when the caller asks for it by name or when a client certificate is given",
      );
      expect(names(plan({}, { channel: CERT_TLS, offered: ["PLAIN", "ANONYMOUS"] }))).toEqual(["ANONYMOUS"]);
    });

    it("authenticates end to end against the EXTERNAL server half", async () => {
      const server = external.createServer!({ callbacks: {}, channel: { secure: true, externalIdentity: "CN=alice" }, hostname: "mx", options: {} });
      const exchange = pairedExchange(server);
      const result = await authenticate(plan({}, { channel: CERT_TLS }), exchange);
      expect(result.mechanism).toBe("EXTERNAL");
      expect(exchange.outcome?.identity).toEqual({ authcid: "CN=alice", authzid: "CN=alice" });
    });
  });

  it("EXTERNAL is chosen when forced, even with a token, and ranks by the caller's order", () => {
    expect(names(plan({ username: "alice", token: "tok" }, { policy: { force: "EXTERNAL" } }))).toEqual(["EXTERNAL"]);
    expect(names(plan({}, { policy: { order: ["EXTERNAL", "ANONYMOUS"] } }))).toEqual(["EXTERNAL", "ANONYMOUS"]);
  });

  it("the caller's order may put XOAUTH2 first", () => {
    expect(names(plan({ username: "alice", token: "tok" }, { policy: { order: ["XOAUTH2", "OAUTHBEARER"] } }))).toEqual(["XOAUTH2", "OAUTHBEARER"]);
  });

  it("bearer tokens are refused in clear to a remote host, allowed to loopback", () => {
    const remote = plan({ username: "alice", token: "tok" }, { channel: { secure: false } });
    expect(names(remote)).toEqual([]);
    expect(reason(remote, "OAUTHBEARER")).toBe("cleartext-password");
    expect(reason(remote, "XOAUTH2")).toBe("cleartext-password");
    expect(names(plan({ username: "alice", token: "tok" }, { channel: { secure: false, loopback: true } }))).toEqual(["OAUTHBEARER", "XOAUTH2"]);
  });

  const rejectingOAuthBearer = () => {
    const server = pairedExchange(xoauth2.createServer!({ callbacks: { verifyToken: () => ({ valid: true, user: "alice" }) }, channel: TLS, hostname: "mx", options: {} }));
    const begun: [string, boolean][] = [];
    const exchange: SaslExchange = {
      async begin(mechanism, ir) {
        begun.push([mechanism, ir !== null]);
        if (mechanism === "OAUTHBEARER") return { type: "failure", code: "mechanism-rejected", reply: { status: "504", enhanced: "5.5.4", text: "Unrecognized authentication type" } };
        return server.begin(mechanism, ir);
      },
      respond: (r) => server.respond(r),
      cancel: () => server.cancel(),
    };
    return { exchange, begun };
  };

  it("authenticate falls back from a rejected OAUTHBEARER to XOAUTH2 when the token had not gone out yet", async () => {
    // The adapter withheld the initial response (line too long): the bare AUTH was refused.
    const { exchange, begun } = rejectingOAuthBearer();
    const result = await authenticate(plan({ username: "alice", token: "tok" }), exchange, { initialResponseFits: (m) => m !== "OAUTHBEARER" });
    expect(result.mechanism).toBe("XOAUTH2");
    expect(begun).toEqual([
      ["OAUTHBEARER", false],
      ["XOAUTH2", true],
    ]);
    expect(result.attempts.map((a) => [a.mechanism, a.error?.code])).toEqual([
      ["OAUTHBEARER", "mechanism-rejected"],
      ["XOAUTH2", undefined],
    ]);
  });

  it("authenticate does not send the token a second time after OAUTHBEARER's initial response was refused (issue 13 item 4)", async () => {
    const { exchange, begun } = rejectingOAuthBearer();
    const error = await authenticate(plan({ username: "alice", token: "tok" }), exchange).catch((e: unknown) => e);
    expect(begun).toEqual([["OAUTHBEARER", true]]);
    expect(error).toMatchObject({ code: "mechanism-rejected", secretSent: true });
  });
});

describe("a hostile SCRAM server cannot push the client to a weaker mechanism", async () => {
  const { scramSha256 } = await import("@saslkit/mech-scram");
  const { plain } = await import("@saslkit/mech-plain");
  const { utf8 } = await import("@saslkit/core");
  it.each([
    ["an iteration count above the ceiling", (nonce: string) => `r=${nonce}srv,s=QSXCR+Q6sek8bf92,i=1000000000`, "policy-refused"],
    ["a server nonce that does not extend ours", () => "r=forged,s=QSXCR+Q6sek8bf92,i=4096", "server-verification-failed"],
  ])("%s ends the attempt without fallback to PLAIN", async (_label, serverFirst, code) => {
    const begun: string[] = [];
    let clientFirst = "";
    const exchange: SaslExchange = {
      async begin(mechanism, ir) {
        begun.push(mechanism);
        if (mechanism !== "SCRAM-SHA-256") return { type: "success", data: null };
        clientFirst = Buffer.from(ir ?? new Uint8Array()).toString();
        const nonce = /r=([^,]+)/.exec(clientFirst)![1]!;
        return { type: "challenge", data: utf8(serverFirst(nonce)) };
      },
      async respond() {
        return { type: "success", data: null };
      },
      async cancel() {
        return { type: "failure", code: "aborted", reply: { status: "501", text: "cancelled" } };
      },
    };
    const plan = planNegotiation([scramSha256, plain], { offered: ["SCRAM-SHA-256", "PLAIN"], credentials: { username: "u", password: "p" }, channel: { secure: true } });
    await expect(authenticate(plan, exchange)).rejects.toMatchObject({ code });
    expect(begun).toEqual(["SCRAM-SHA-256"]);
  });
});
