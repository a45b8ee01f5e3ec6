import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { container } from "tsyringe";
import {
  Credentials,
  MechanismRegistry,
  SaslError,
  negotiate,
  pairedExchange,
  planNegotiation,
  runExchange,
  type ChannelInfo,
  type ClientContext,
  type CredentialsInput,
  type ServerCallbacks,
} from "@saslkit/core";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { scramSha1, scramSha256 } from "@saslkit/mech-scram";
import {
  DIGEST_MD5_MAX_CHALLENGE_BYTES,
  DigestMd5Client,
  DigestMd5ClientState,
  DigestMd5Server,
  DigestMd5ServerState,
  digestMd5,
  digestMd5Secret,
  parseDigestChallenge,
  registerDigestMd5,
} from "@saslkit/mech-digest-md5";

const b64 = (bytes: Uint8Array | null): string => Buffer.from(bytes ?? []).toString("base64");
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"));
const octets = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"));
const text = (data: Uint8Array): string => Buffer.from(data).toString("utf8");
const latin1 = (data: Uint8Array): string => Buffer.from(data).toString("latin1");

/**
 * RFC 2831 §4, first example (IMAP): user chris, password secret.
 * The response and rspauth values printed in RFC 2831 are correct as published: they were
 * recomputed here with Python's hashlib (d388dad9... and ea40f603...), and RFC 3920 erratum 1406
 * (verified) states the same two values for this example. No erratum of RFC 2831 changes them;
 * the errata that exist concern other documents that copied the example's format.
 */
const RFC2831_IMAP = {
  challenge: 'realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8',
  challengeB64: "cmVhbG09ImVsd29vZC5pbm5vc29mdC5jb20iLG5vbmNlPSJPQTZNRzl0RVFHbTJoaCIscW9wPSJhdXRoIixhbGdvcml0aG09bWQ1LXNlc3MsY2hhcnNldD11dGYtOA==",
  cnonce: "OA6MHXh6VqTrRk",
  response:
    'charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth',
  rspauth: "rspauth=ea40f60335c427b5527b84dbabcdfffd",
  rspauthB64: "cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZA==",
};

/** RFC 2831 §4, second example (ACAP). */
const RFC2831_ACAP = {
  challenge: 'realm="elwood.innosoft.com",nonce="OA9BSXrbuRhWay",qop="auth",algorithm=md5-sess,charset=utf-8',
  cnonce: "OA9BSuZWMSpW8m",
  response:
    'charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA9BSXrbuRhWay",nc=00000001,cnonce="OA9BSuZWMSpW8m",digest-uri="acap/elwood.innosoft.com",response=6084c6db3fede7352c551284490fd0fc,qop=auth',
  rspauth: "rspauth=2f0b3d7c3c2e486600ef710726aa2eae",
};

const channel = (service: string | undefined, host = "elwood.innosoft.com"): ChannelInfo => ({ secure: true, host, ...(service !== undefined ? { service } : {}) });

function client(input: CredentialsInput, opts: { service?: string; host?: string; options?: Record<string, unknown>; cnonce?: string } = {}): DigestMd5Client {
  return new DigestMd5Client(
    { credentials: Credentials.from(input), channel: channel(opts.service ?? "imap", opts.host), options: opts.options ?? {} },
    { makeCnonce: () => opts.cnonce ?? "cnonce-1234" },
  );
}

function server(users: Record<string, string>, opts: { nonce?: string; realms?: string[]; service?: string; callbacks?: ServerCallbacks } = {}): DigestMd5Server {
  return new DigestMd5Server(
    {
      callbacks: { lookupPassword: (u) => users[u], ...opts.callbacks },
      hostname: "elwood.innosoft.com",
      channel: channel(opts.service ?? "imap"),
      options: opts.realms ? { digestMd5: { realms: opts.realms } } : {},
    },
    opts.nonce ? { makeNonce: () => opts.nonce as string } : {},
  );
}

async function rejects(promise: Promise<unknown> | (() => unknown), code: string): Promise<SaslError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(SaslError);
    expect((error as SaslError).code).toBe(code);
    expect((error as SaslError).mechanism).toBe("DIGEST-MD5");
    return error as SaslError;
  }
  throw new Error(`expected SaslError ${code}`);
}

/** A well-formed challenge with `extra` directives appended (or replacing the defaults when `bare`). */
const challengeWith = (extra: string, bare = false): Uint8Array => octets(bare ? extra : `nonce="abc",algorithm=md5-sess,charset=utf-8${extra ? `,${extra}` : ""}`);

describe("DIGEST-MD5 RFC 2831 §4 vectors", () => {
  it("rfc2831_imap_example_byte_for_byte", async () => {
    const c = client({ username: "chris", password: "secret" }, { service: "imap", cnonce: RFC2831_IMAP.cnonce });
    expect(c.start()).toBeNull();
    expect(b64(bytes(RFC2831_IMAP.challenge))).toBe(RFC2831_IMAP.challengeB64);
    const response = await c.step(bytes(RFC2831_IMAP.challenge));
    expect(text(response)).toBe(RFC2831_IMAP.response);
    expect(c.complete).toBe(false);
    expect(c.state).toBe(DigestMd5ClientState.awaitingRspauth);
    expect(b64(bytes(RFC2831_IMAP.rspauth))).toBe(RFC2831_IMAP.rspauthB64);
    expect(await c.step(bytes(RFC2831_IMAP.rspauth))).toEqual(new Uint8Array(0));
    expect(c.complete).toBe(true);
    c.finish(null);
    await rejects(c.step(bytes(RFC2831_IMAP.rspauth)), "bad-state");
  });

  it("rfc2831_acap_example_byte_for_byte", async () => {
    const c = client({ username: "chris", password: "secret" }, { service: "acap", cnonce: RFC2831_ACAP.cnonce });
    c.start();
    expect(text(await c.step(bytes(RFC2831_ACAP.challenge)))).toBe(RFC2831_ACAP.response);
    await c.step(bytes(RFC2831_ACAP.rspauth));
    expect(c.complete).toBe(true);
  });

  it("rfc2831_imap_example_through_the_server_half", async () => {
    const s = server({ chris: "secret" }, { nonce: "OA6MG9tEQGm2hh", realms: ["elwood.innosoft.com"] });
    const exchange = pairedExchange(s);
    const c = client({ username: "chris", password: "secret" }, { cnonce: RFC2831_IMAP.cnonce });
    // Server challenge, client response, the server's rspauth as a last challenge, an empty response.
    expect(await runExchange(c, exchange)).toBe(2);
    expect(exchange.sent[0]).toBeNull();
    expect(text(exchange.sent[1] as Uint8Array)).toBe(RFC2831_IMAP.response);
    expect(exchange.sent[2]).toEqual(new Uint8Array(0));
    expect(exchange.outcome?.identity).toEqual({ authcid: "chris", authzid: "chris" });
    expect(c.complete).toBe(true);
    expect(s.state).toBe(DigestMd5ServerState.done);
  });

  it("server_challenge_is_the_rfc_challenge", () => {
    const step = server({}, { nonce: "OA6MG9tEQGm2hh", realms: ["elwood.innosoft.com"] }).start(null);
    expect(step.type).toBe("challenge");
    expect(text((step as { data: Uint8Array }).data)).toBe(RFC2831_IMAP.challenge);
  });
});

describe("DIGEST-MD5 rspauth is verified before success", () => {
  const started = async (): Promise<DigestMd5Client> => {
    const c = client({ username: "chris", password: "secret" }, { cnonce: RFC2831_IMAP.cnonce });
    c.start();
    await c.step(bytes(RFC2831_IMAP.challenge));
    return c;
  };

  it("wrong_rspauth_is_server_verification_failed", async () => {
    const c = await started();
    await rejects(c.step(bytes("rspauth=00000000000000000000000000000000")), "server-verification-failed");
    expect(c.complete).toBe(false);
    await rejects(() => c.finish(null), "server-verification-failed");
  });

  it("success_without_rspauth_is_server_verification_failed", async () => {
    const c = await started();
    const error = await rejects(() => c.finish(null), "server-verification-failed");
    expect(error.message).toContain("no rspauth");
  });

  it("rspauth_as_success_data_is_accepted", async () => {
    const c = await started();
    c.finish(bytes(RFC2831_IMAP.rspauth));
    expect(c.complete).toBe(true);
  });

  it("rspauth_in_upper_case_hex_is_accepted", async () => {
    const c = await started();
    await c.step(bytes(RFC2831_IMAP.rspauth.toUpperCase().replace("RSPAUTH", "rspauth")));
    expect(c.complete).toBe(true);
  });

  it("a_second_digest_challenge_instead_of_rspauth_is_refused", async () => {
    const c = await started();
    await rejects(c.step(bytes(RFC2831_IMAP.challenge)), "server-verification-failed");
  });

  it("malformed_or_duplicated_rspauth_is_refused", async () => {
    for (const bad of ['rspauth="unterminated', "rspauth=a,rspauth=b", "", "rspauth", `rspauth=ea40f60335c427b5527b84dbabcdfffd,x="${"a".repeat(3000)}"`]) {
      const c = await started();
      await rejects(c.step(bytes(bad)), "server-verification-failed");
    }
  });

  it("finish_before_any_challenge_is_refused", async () => {
    const c = client({ username: "chris", password: "secret" });
    c.start();
    await rejects(() => c.finish(null), "server-verification-failed");
  });
});

describe("DIGEST-MD5 hostile challenges", () => {
  const step = async (challenge: Uint8Array, code = "invalid-challenge"): Promise<SaslError> => {
    const c = client({ username: "chris", password: "secret" });
    c.start();
    const error = await rejects(c.step(challenge), code);
    expect(error.message).not.toContain("secret");
    expect(c.state).toBe(DigestMd5ClientState.awaitingChallenge);
    return error;
  };

  it("quoted_strings_with_escapes_are_unescaped_and_requoted", async () => {
    const parsed = parseDigestChallenge(octets('realm="a\\"b\\\\c",nonce="n\\o\\"n",algorithm="md5-sess"'));
    expect(parsed.realms).toEqual(['a"b\\c']);
    expect(parsed.nonce).toBe('no"n');
    const c = client({ username: 'us"er', password: "secret" });
    const response = latin1(await c.step(octets('realm="a\\"b\\\\c",nonce="n\\o\\"n",algorithm="md5-sess"')));
    expect(response).toContain('username="us\\"er"');
    expect(response).toContain('realm="a\\"b\\\\c"');
    expect(response).toContain('nonce="no\\"n"');
    // The server half parses the same escapes back and accepts the proof.
    const s = server({ 'us"er': "pw" }, { nonce: 'no"n', realms: ['a"b\\c'] });
    const exchange = pairedExchange(s);
    await runExchange(client({ username: 'us"er', password: "pw" }), exchange);
    expect(exchange.outcome?.identity?.authcid).toBe('us"er');
  });

  it("lws_case_and_empty_list_elements_are_tolerated", () => {
    const parsed = parseDigestChallenge(octets(' ,REALM = "x" ,, Nonce="abc" , ALGORITHM = MD5-SESS,qop="auth, auth-int",\r\n\tcharset=UTF-8 ,'));
    expect(parsed).toEqual({ realms: ["x"], nonce: "abc", qop: ["auth", "auth-int"], utf8: true });
  });

  it("multiple_realms_are_kept_in_order", () => {
    expect(parseDigestChallenge(challengeWith('realm="one",realm="two"')).realms).toEqual(["one", "two"]);
  });

  it("unknown_directives_are_ignored", () => {
    expect(parseDigestChallenge(challengeWith('maxbuf=65536,cipher="rc4",x-future="1",x-future=2')).nonce).toBe("abc");
  });

  it("missing_nonce", async () => {
    expect((await step(octets("algorithm=md5-sess"))).message).toBe("DIGEST-MD5: challenge has no nonce.");
  });

  it("empty_nonce", async () => {
    await step(octets('nonce="",algorithm=md5-sess'));
  });

  it("duplicate_directives", async () => {
    for (const dup of ['nonce="x"', "algorithm=md5-sess", "charset=utf-8", 'qop="auth"', "stale=true", "maxbuf=1", 'cipher="rc4"']) {
      const error = await step(challengeWith(`${dup},${dup}`.replace(/^/, "")));
      expect(error.message).toContain("more than once");
    }
  });

  it("algorithm_other_than_md5_sess_or_missing", async () => {
    await step(octets('nonce="abc",algorithm=md5'));
    await step(octets('nonce="abc",algorithm=sha-256'));
    expect((await step(octets('nonce="abc"'))).message).toBe("DIGEST-MD5: challenge has no algorithm directive.");
  });

  it("charset_other_than_utf8", async () => {
    await step(octets('nonce="abc",algorithm=md5-sess,charset=iso-8859-1'));
  });

  it("qop_without_auth", async () => {
    const error = await step(octets('nonce="abc",algorithm=md5-sess,qop="auth-int,auth-conf"'));
    expect(error.message).toContain("qop=auth");
  });

  it("syntax_errors", async () => {
    for (const bad of ['nonce="abc', 'nonce="abc\\', "nonce", "nonce=", "=abc", 'nonce="abc" x, algorithm=md5-sess', 'nonce="a\u0000b",algorithm=md5-sess', 'nonce="a\\\u00e9",algorithm=md5-sess', "nonce=a\u0001b"]) {
      const error = await step(octets(bad));
      expect(error.message).toMatch(/^DIGEST-MD5: challenge is malformed: /);
    }
  });

  it("empty_challenge", async () => {
    expect((await step(new Uint8Array(0))).message).toBe("DIGEST-MD5: challenge is empty.");
  });

  it("huge_challenge_is_refused_before_parsing", async () => {
    const huge = challengeWith(`x="${"a".repeat(DIGEST_MD5_MAX_CHALLENGE_BYTES)}"`);
    expect((await step(huge)).message).toContain("exceeds the 2047-byte limit");
    const justFits = challengeWith(`x="${"a".repeat(DIGEST_MD5_MAX_CHALLENGE_BYTES - 1 - challengeWith('x=""').length)}"`);
    expect(justFits.length).toBe(DIGEST_MD5_MAX_CHALLENGE_BYTES - 1);
    expect(parseDigestChallenge(justFits).nonce).toBe("abc");
  });

  it("arbitrary_bytes_raise_only_typed_errors", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), async (data) => {
        const c = client({ username: "chris", password: "secret" });
        try {
          await c.step(data);
        } catch (error) {
          expect(error).toBeInstanceOf(SaslError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("arbitrary_directive_soup_raises_only_typed_errors", async () => {
    const piece = fc.constantFrom("realm", "nonce", "qop", "algorithm", "charset", "md5-sess", "auth", "utf-8", '"', "\\", ",", "=", " ", "x", "\u00ff");
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 60 }), async (parts) => {
        const c = client({ username: "chris", password: "secret" });
        try {
          const out = await c.step(octets(parts.join("")));
          expect(latin1(out)).toMatch(/^charset=utf-8,username="chris",/);
        } catch (error) {
          expect(error).toBeInstanceOf(SaslError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("DIGEST-MD5 realms", () => {
  it("first_offered_realm_is_used", async () => {
    const out = latin1(await client({ username: "u", password: "p" }).step(challengeWith('realm="one",realm="two"')));
    expect(out).toContain('realm="one"');
  });

  it("configured_realm_is_used", async () => {
    const out = latin1(await client({ username: "u", password: "p" }, { options: { digestMd5: { realm: "two" } } }).step(challengeWith('realm="one",realm="two"')));
    expect(out).toContain('realm="two"');
    expect(out).not.toContain('realm="one"');
  });

  it("no_realm_offered_means_no_realm_sent", async () => {
    const out = latin1(await client({ username: "u", password: "p" }).step(challengeWith("")));
    expect(out).not.toContain("realm=");
  });

  it("an_offered_empty_realm_is_echoed", async () => {
    const out = latin1(await client({ username: "u", password: "p" }).step(challengeWith('realm=""')));
    expect(out).toContain('realm=""');
  });

  it("server_with_two_realms_accepts_the_second", async () => {
    const s = server({ u: "p" }, { realms: ["one", "two"] });
    const exchange = pairedExchange(s);
    await runExchange(client({ username: "u", password: "p" }, { options: { digestMd5: { realm: "two" } } }), exchange);
    expect(exchange.outcome?.identity?.authcid).toBe("u");
  });

  it("server_refuses_a_realm_it_did_not_offer_with_that_reason", async () => {
    const exchange = pairedExchange(server({ u: "p" }, { realms: ["one"] }));
    const error = await rejects(runExchange(client({ username: "u", password: "p" }, { options: { digestMd5: { realm: "other" } } }), exchange), "authentication-failed");
    // Not "malformed": the response is well-formed, the realm is the problem, and the failure says so.
    expect(exchange.outcome?.failure).toBe("authentication-failed");
    expect(error.message).toContain("the realm is not one the server offered");
  });

  it("server_names_the_realm_as_the_reason_whatever_the_password", async () => {
    for (const password of ["p", "wrong"]) {
      const s = server({ u: "p" }, { realms: ["one"], nonce: "abc" });
      const challenge = s.start(null) as { type: "challenge"; data: Uint8Array };
      const response = await client({ username: "u", password }, { options: { digestMd5: { realm: "other" } } }).step(challenge.data);
      expect(await s.step(response)).toEqual({ type: "failure", code: "authentication-failed", message: "DIGEST-MD5: the realm is not one the server offered.", reason: "credentials" });
    }
  });

  it("server_offering_realms_refuses_a_response_without_one_for_the_same_reason", async () => {
    const s = server({ u: "p" }, { realms: ["one"], nonce: "abc" });
    s.start(null);
    const response = latin1(await client({ username: "u", password: "p" }).step(challengeWith("")));
    expect(response).not.toContain("realm=");
    expect(await s.step(octets(response))).toMatchObject({ type: "failure", code: "authentication-failed", message: "DIGEST-MD5: the realm is not one the server offered." });
  });

  it("server_without_realms_accepts_none", async () => {
    const exchange = pairedExchange(server({ u: "p" }, { realms: [] }));
    await runExchange(client({ username: "u", password: "p" }), exchange);
    expect(exchange.outcome?.identity?.authcid).toBe("u");
  });
});

describe("DIGEST-MD5 digest-uri", () => {
  it("is_service_slash_host_from_the_channel", async () => {
    for (const service of ["smtp", "imap", "pop"]) {
      const out = latin1(await client({ username: "u", password: "p" }, { service, host: "mail.example.org" }).step(challengeWith("")));
      expect(out).toContain(`digest-uri="${service}/mail.example.org"`);
    }
  });

  it("options_override_service_and_host", async () => {
    const out = latin1(await client({ username: "u", password: "p" }, { options: { digestMd5: { service: "ldap", host: "dir.example" } } }).step(challengeWith("")));
    expect(out).toContain('digest-uri="ldap/dir.example"');
  });

  it("without_a_service_the_client_refuses_and_the_provider_is_unusable", async () => {
    const context: ClientContext = { credentials: Credentials.from({ username: "u", password: "p" }), channel: { secure: true, host: "h" }, offered: ["DIGEST-MD5"], options: {} };
    await rejects(() => new DigestMd5Client(context).start(), "missing-credentials");
    expect(digestMd5.usable?.(context)).toMatch(/service name/);
    expect(digestMd5.usable?.({ ...context, channel: channel("smtp") })).toBeUndefined();
    expect(digestMd5.usable?.({ ...context, channel: { secure: true }, options: { digestMd5: { service: "smtp" } } })).toMatch(/host name/);
  });

  it("server_refuses_another_service", async () => {
    const exchange = pairedExchange(server({ u: "p" }, { service: "smtp" }));
    await rejects(runExchange(client({ username: "u", password: "p" }, { service: "imap" }), exchange), "protocol-error");
    expect(exchange.outcome?.failure).toBe("invalid-response");
  });
});

describe("DIGEST-MD5 charset", () => {
  // Expected values computed with Python's hashlib from the formulas of RFC 2831 §2.1.2.1.
  const nonAscii = { username: "ümlaut", password: "pässwörd-ü" };

  it("utf8_charset_sends_and_hashes_utf8", async () => {
    const out = await client(nonAscii, { host: "h" }).step(challengeWith('realm="r"'));
    expect(text(out)).toBe('charset=utf-8,username="ümlaut",realm="r",nonce="abc",nc=00000001,cnonce="cnonce-1234",digest-uri="imap/h",response=c9f090f9ae56b574de963fae05cb2c42,qop=auth');
  });

  it("latin1Hash_option_converts_before_hashing_but_sends_utf8", async () => {
    const out = await client(nonAscii, { host: "h", options: { digestMd5: { latin1Hash: true } } }).step(challengeWith('realm="r"'));
    expect(text(out)).toBe('charset=utf-8,username="ümlaut",realm="r",nonce="abc",nc=00000001,cnonce="cnonce-1234",digest-uri="imap/h",response=f2b4f4589fe50cc6f41a2caa5ad6ba39,qop=auth');
  });

  it("without_charset_credentials_are_latin1", async () => {
    const out = await client(nonAscii, { host: "h" }).step(octets('realm="r",nonce="abc",algorithm=md5-sess'));
    expect(latin1(out)).toBe('username="ümlaut",realm="r",nonce="abc",nc=00000001,cnonce="cnonce-1234",digest-uri="imap/h",response=f2b4f4589fe50cc6f41a2caa5ad6ba39,qop=auth');
    expect(out[10]).toBe(0xfc); // ü as one ISO 8859-1 octet
  });

  it("without_charset_non_latin1_credentials_are_refused", async () => {
    for (const input of [{ username: "Ωmega", password: "p" }, { username: "u", password: "パス" }]) {
      const c = client(input);
      const error = await rejects(c.step(octets('nonce="abc",algorithm=md5-sess')), "invalid-credentials-input");
      expect(error.message).toContain("ISO 8859-1");
      expect(error.message).not.toContain("パス");
    }
  });

  it("server_accepts_both_hash_forms_of_non_ascii_credentials", async () => {
    for (const latin1Hash of [false, true]) {
      const exchange = pairedExchange(server({ [nonAscii.username]: nonAscii.password }));
      await runExchange(client(nonAscii, { options: { digestMd5: { latin1Hash } } }), exchange);
      expect(exchange.outcome?.identity?.authcid).toBe("ümlaut");
    }
  });

  it("server_accepts_a_client_without_charset", async () => {
    const s = server({ [nonAscii.username]: nonAscii.password }, { nonce: "abc", realms: ["r"] });
    s.start(null);
    const response = await client(nonAscii).step(octets('realm="r",nonce="abc",algorithm=md5-sess'));
    const outcome = await s.step(response);
    expect(outcome).toMatchObject({ type: "success", identity: { authcid: "ümlaut" } });
  });

  it("lone_surrogates_and_control_characters_are_refused", async () => {
    await rejects(() => client({ username: "a\uD800", password: "p" }).start(), "invalid-credentials-input");
    await rejects(() => client({ username: "a\r\nb", password: "p" }).start(), "invalid-credentials-input");
    await rejects(client({ username: "a", password: "\uDC00" }).step(challengeWith("")), "invalid-credentials-input");
  });
});

describe("DIGEST-MD5 client input", () => {
  it("missing_credentials", async () => {
    await rejects(() => client({ password: "p" }).start(), "missing-credentials");
    await rejects(() => client({ username: "u" }).start(), "missing-credentials");
    await rejects(() => client({ username: "", password: "p" }).start(), "invalid-credentials-input");
  });

  it("start_twice_is_bad_state", async () => {
    const c = client({ username: "u", password: "p" });
    c.start();
    await rejects(() => c.start(), "bad-state");
  });

  it("options_are_validated", async () => {
    const make = (digestMd5: unknown) => () => new DigestMd5Client({ credentials: Credentials.from({ username: "u", password: "p" }), channel: channel("smtp"), options: { digestMd5 } });
    expect((await rejects(make({ relam: "x" }), "invalid-credentials-input")).message).toContain("digestMd5.relam is not an option");
    await rejects(make({ realm: 1 }), "invalid-credentials-input");
    await rejects(make({ latin1Hash: "yes" }), "invalid-credentials-input");
    await rejects(make("x"), "invalid-credentials-input");
    await rejects(make({ service: "" }), "invalid-credentials-input");
  });

  it("authzid_is_sent_and_hashed", async () => {
    const out = text(await client({ username: "u", password: "p", authzid: "admin" }, { host: "h" }).step(challengeWith("")));
    expect(out).toMatch(/,qop=auth,authzid="admin"$/);
    const plain = text(await client({ username: "u", password: "p" }, { host: "h" }).step(challengeWith("")));
    expect(out.match(/response=([0-9a-f]{32})/)?.[1]).not.toBe(plain.match(/response=([0-9a-f]{32})/)?.[1]);
  });

  it("cnonce_is_random_by_default", async () => {
    const make = () => new DigestMd5Client({ credentials: Credentials.from({ username: "u", password: "p" }), channel: channel("smtp"), options: {} });
    const a = latin1(await make().step(challengeWith(""))).match(/cnonce="([^"]+)"/)?.[1];
    const b = latin1(await make().step(challengeWith(""))).match(/cnonce="([^"]+)"/)?.[1];
    expect(a).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(a).not.toBe(b);
  });
});

describe("DIGEST-MD5 server half", () => {
  const respond = async (users: Record<string, string>, input: CredentialsInput, mutate?: (response: string) => string, extra: ServerCallbacks = {}) => {
    const s = server(users, { nonce: "abc", realms: ["r"], callbacks: extra });
    s.start(null);
    let response = latin1(await client(input).step(octets('realm="r",nonce="abc",qop="auth",algorithm=md5-sess,charset=utf-8')));
    if (mutate) response = mutate(response);
    return s.step(octets(response));
  };

  it("success_carries_rspauth", async () => {
    const outcome = await respond({ u: "p" }, { username: "u", password: "p" });
    expect(outcome.type).toBe("success");
    expect(latin1((outcome as { data: Uint8Array }).data)).toMatch(/^rspauth=[0-9a-f]{32}$/);
  });

  it("wrong_password_and_unknown_user_fail_alike", async () => {
    expect(await respond({ u: "p" }, { username: "u", password: "wrong" })).toEqual({ type: "failure", code: "authentication-failed", message: "Authentication failed." });
    expect(await respond({ u: "p" }, { username: "nobody", password: "p" })).toEqual({ type: "failure", code: "authentication-failed", message: "Authentication failed." });
    expect(await respond({}, { username: "u", password: "p" }, undefined, { lookupPassword: undefined })).toMatchObject({ code: "authentication-failed" });
  });

  it("malformed_responses_are_invalid_response", async () => {
    const cases: [string, (r: string) => string][] = [
      ["other nonce", (r) => r.replace('nonce="abc"', 'nonce="abd"')],
      ["nc 2", (r) => r.replace("nc=00000001", "nc=00000002")],
      ["qop auth-int", (r) => r.replace("qop=auth", "qop=auth-int")],
      ["no username", (r) => r.replace(/username="u",/, "")],
      ["duplicate username", (r) => `username="x",${r}`],
      ["no cnonce", (r) => r.replace(/cnonce="[^"]*",/, "")],
      ["no digest-uri", (r) => r.replace(/digest-uri="[^"]*",/, "")],
      ["digest-uri without host", (r) => r.replace(/digest-uri="[^"]*"/, 'digest-uri="imap"')],
      ["short response", (r) => r.replace(/response=[0-9a-f]{32}/, "response=abc")],
      ["other charset", (r) => r.replace("charset=utf-8", "charset=latin1")],
      ["syntax", (r) => `${r},"`],
      ["huge", (r) => `${r},x="${"a".repeat(4096)}"`],
      ["bad utf-8 user", (r) => r.replace('username="u"', 'username="\u00ff"')],
    ];
    for (const [name, mutate] of cases) {
      const outcome = await respond({ u: "p", x: "p" }, { username: "u", password: "p" }, mutate);
      expect(outcome, name).toMatchObject({ type: "failure", code: "invalid-response" });
    }
  });

  it("initial_response_is_refused", () => {
    expect(server({}).start(new Uint8Array(0))).toMatchObject({ type: "failure", code: "invalid-response" });
  });

  it("calls_out_of_order_are_bad_state", async () => {
    const s = server({ u: "p" });
    await rejects(Promise.resolve().then(() => s.step(new Uint8Array(0))), "bad-state");
    s.start(null);
    await rejects(() => s.start(null), "bad-state");
    await s.step(bytes("x"));
    await rejects(Promise.resolve().then(() => s.step(bytes("x"))), "bad-state");
  });

  it("authzid_needs_the_authorize_callback", async () => {
    const input = { username: "u", password: "p", authzid: "admin" };
    expect(await respond({ u: "p" }, input)).toMatchObject({ type: "failure", code: "authorization-failed" });
    expect(await respond({ u: "p" }, input, undefined, { authorize: (c, z) => c === "u" && z === "admin" })).toMatchObject({
      type: "success",
      identity: { authcid: "u", authzid: "admin" },
    });
  });

  it("arbitrary_responses_end_in_a_failure_step_never_a_throw", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 5000 }), async (data) => {
        const s = server({ u: "p" }, { nonce: "abc" });
        s.start(null);
        const outcome = await s.step(data);
        expect(outcome.type).toBe("failure");
      }),
      { numRuns: 300 },
    );
  });

  it("a_stored_secret_replaces_the_plaintext_password", async () => {
    const secrets: Record<string, Uint8Array> = { "u@r": digestMd5Secret("u", "r", "p"), "ümlaut@r": digestMd5Secret("ümlaut", "r", "pässwörd-ü") };
    const asked: string[] = [];
    const lookupDigestMd5Secret = (user: string, realm: string) => {
      asked.push(`${user}@${realm}`);
      return secrets[`${user}@${realm}`];
    };
    expect(await respond({}, { username: "u", password: "p" }, undefined, { lookupDigestMd5Secret, lookupPassword: () => "ignored" })).toMatchObject({ type: "success" });
    expect(await respond({}, { username: "u", password: "wrong" }, undefined, { lookupDigestMd5Secret })).toMatchObject({ code: "authentication-failed" });
    expect(await respond({}, { username: "nobody", password: "p" }, undefined, { lookupDigestMd5Secret })).toMatchObject({ code: "authentication-failed" });
    expect(await respond({}, { username: "ümlaut", password: "pässwörd-ü" }, undefined, { lookupDigestMd5Secret })).toMatchObject({ type: "success", identity: { authcid: "ümlaut" } });
    expect(asked).toEqual(["u@r", "u@r", "nobody@r", "ümlaut@r"]);
    // The RFC 2831 §4 user: H(chris:elwood.innosoft.com:secret), recomputed with Python's hashlib.
    expect(Buffer.from(digestMd5Secret("chris", "elwood.innosoft.com", "secret")).toString("hex")).toBe("eb5a750053e4d2c34aa84bbc9b0b6ee7");
  });

  it("nonces_differ_per_exchange", () => {
    const nonce = (): string => latin1((server({}).start(null) as { data: Uint8Array }).data).match(/nonce="([^"]+)"/)?.[1] ?? "";
    expect(nonce()).not.toBe(nonce());
  });
});

describe("DIGEST-MD5 provider and negotiation", () => {
  it("declares_its_security", () => {
    expect(digestMd5).toMatchObject({
      name: "DIGEST-MD5",
      clientFirst: false,
      security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: false },
    });
    expect(digestMd5.priority).toBeLessThan(scramSha1.priority);
    expect(digestMd5.priority).toBeLessThan(scramSha256.priority);
    expect(digestMd5.priority).toBeGreaterThan(cramMd5.priority);
  });

  it("ranks_below_scram_and_above_cram_md5_whatever_the_registration_order", () => {
    const input = { credentials: { username: "u", password: "p" }, channel: channel("smtp") };
    for (const order of [
      [cramMd5, digestMd5, scramSha1],
      [scramSha1, digestMd5, cramMd5],
    ]) {
      expect(negotiate(order, { ...input, offered: ["CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-1"] }).candidates[0]?.name).toBe("SCRAM-SHA-1");
      expect(negotiate(order, { ...input, offered: ["CRAM-MD5", "DIGEST-MD5"] }).candidates[0]?.name).toBe("DIGEST-MD5");
    }
  });

  it("is_refused_by_negotiation_when_the_adapter_gives_no_service", () => {
    const plan = planNegotiation([digestMd5, cramMd5], { credentials: { username: "u", password: "p" }, channel: { secure: true, host: "h" }, offered: ["DIGEST-MD5", "CRAM-MD5"] });
    expect(plan.candidates.map((p) => p.name)).toEqual(["CRAM-MD5"]);
    expect(plan.refused.find((r) => r.mechanism === "DIGEST-MD5")?.explanation).toMatch(/service name/);
  });

  it("registers_into_a_container", () => {
    const child = container.createChildContainer();
    registerDigestMd5(child);
    expect(child.resolve(MechanismRegistry).names()).toEqual(["DIGEST-MD5"]);
  });
});

describe("DIGEST-MD5 secretUsed: no fallback once the response went out", () => {
  it("is false before and true once the digest-response is produced", async () => {
    const c = client({ username: "chris", password: "secret" }, { service: "imap", cnonce: RFC2831_IMAP.cnonce });
    c.start();
    expect(c.secretUsed).toBe(false);
    await c.step(bytes(RFC2831_IMAP.challenge));
    expect(c.secretUsed).toBe(true);
  });
});

describe("overlapping calls on one exchange (public API; the driver never makes them)", () => {
  it("a second step, or finish, while the password is read is bad-state; one response, the RFC's, and the exchange completes", async () => {
    let release!: (value: string) => void;
    let asked = 0;
    const c = client({ username: "chris", password: () => (asked++, new Promise<string>((resolve) => (release = resolve))) }, { service: "imap", cnonce: RFC2831_IMAP.cnonce });
    expect(c.start()).toBeNull();
    const first = c.step(bytes(RFC2831_IMAP.challenge));
    const second = await rejects(c.step(bytes(RFC2831_IMAP.challenge)), "bad-state");
    expect(second.message).toBe("DIGEST-MD5: step() was called while another call of this exchange was still running.");
    await rejects(() => c.finish(bytes(RFC2831_IMAP.rspauth)), "bad-state");
    release("secret");
    expect(text(await first)).toBe(RFC2831_IMAP.response);
    expect(asked).toBe(1);
    expect(await c.step(bytes(RFC2831_IMAP.rspauth))).toEqual(new Uint8Array(0));
    expect(c.complete).toBe(true);
  });
});

describe("DIGEST-MD5 server checks the host of digest-uri (RFC 2831 §2.1.2.1)", () => {
  type ServerSide = { hostname?: string; host?: string; loopback?: boolean; localAddress?: string; options?: Record<string, unknown> };
  const hostServer = (side: ServerSide): DigestMd5Server =>
    new DigestMd5Server({
      callbacks: { lookupPassword: (u) => (u === "chris" ? "secret" : undefined) },
      hostname: side.hostname ?? "",
      channel: {
        secure: true,
        service: "imap",
        ...(side.host !== undefined ? { host: side.host } : {}),
        ...(side.loopback !== undefined ? { loopback: side.loopback } : {}),
        ...(side.localAddress !== undefined ? { localAddress: side.localAddress } : {}),
      },
      options: side.options ? { digestMd5: side.options } : {},
    });
  /** The server's outcome for a client whose digest-uri is `imap/<host>` (or `<service>/<host>`). */
  const outcomeFor = async (side: ServerSide, host: string, service = "imap") => {
    const exchange = pairedExchange(hostServer(side));
    await runExchange(client({ username: "chris", password: "secret" }, { service, host }), exchange).catch(() => undefined);
    return exchange.outcome;
  };
  const refusedHost = { type: "failure", code: "invalid-response", message: "DIGEST-MD5: digest-uri names another host." };

  it("default: the server's own host name; another host is refused like another service", async () => {
    const side = { hostname: "elwood.innosoft.com" };
    expect(await outcomeFor(side, "elwood.innosoft.com")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "ELWOOD.Innosoft.COM")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "elwood.innosoft.com", "smtp")).toEqual({ failure: "invalid-response" });
    expect(await outcomeFor(side, "evil.example")).toEqual({ failure: "invalid-response" });
    const s = hostServer(side);
    const challenge = s.start(null) as { data: Uint8Array };
    const response = await client({ username: "chris", password: "secret" }, { service: "imap", host: "evil.example" }).step(challenge.data);
    expect(await s.step(response)).toEqual(refusedHost);
  });

  it("default: ChannelInfo.host counts as a name of the server too", async () => {
    expect(await outcomeFor({ host: "mail.example.org" }, "mail.example.org")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor({ host: "mail.example.org" }, "evil.example")).toEqual({ failure: "invalid-response" });
  });

  it("default on a loopback connection: localhost and loopback addresses also name the server", async () => {
    const side = { hostname: "mx.example.test", loopback: true };
    for (const host of ["localhost", "127.0.0.1", "::1", "[::1]", "mx.example.test"]) expect(await outcomeFor(side, host), host).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "evil.example")).toEqual({ failure: "invalid-response" });
    expect(await outcomeFor({ hostname: "mx.example.test", loopback: false }, "localhost")).toEqual({ failure: "invalid-response" });
  });

  it("default: the address the client connected to (ChannelInfo.localAddress) names the server too, not another address", async () => {
    const side = { hostname: "mx.example.test", loopback: false, localAddress: "192.0.2.10" };
    expect(await outcomeFor(side, "192.0.2.10")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "mx.example.test")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "192.0.2.11")).toEqual({ failure: "invalid-response" });
    expect(await outcomeFor(side, "127.0.0.1")).toEqual({ failure: "invalid-response" });
    // An IPv4 client of a dual-stack socket: the socket reports the address IPv4-mapped, the client names it as IPv4.
    expect(await outcomeFor({ ...side, localAddress: "::ffff:192.0.2.10" }, "192.0.2.10")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor({ ...side, localAddress: "2001:DB8::5" }, "[2001:db8::5]")).toMatchObject({ identity: { authcid: "chris" } });
    // Explicit hosts replace the default, the local address included.
    expect(await outcomeFor({ ...side, options: { hosts: ["mail.example.org"] } }, "192.0.2.10")).toEqual({ failure: "invalid-response" });
    // Knowing only its address, a server still knows no name of its own: any host, as before.
    expect(await outcomeFor({ localAddress: "192.0.2.10" }, "whatever.example")).toMatchObject({ identity: { authcid: "chris" } });
  });

  it("a serv-name after the host (serv-type/host/serv-name) does not hide the host", async () => {
    const side = { hostname: "elwood.innosoft.com" };
    expect(await outcomeFor(side, "elwood.innosoft.com/replica")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "evil.example/elwood.innosoft.com")).toEqual({ failure: "invalid-response" });
  });

  it("options.digestMd5.hosts lists exactly the accepted names", async () => {
    const side = { hostname: "elwood.innosoft.com", loopback: true, options: { hosts: ["mail.example.org", "MX.example.org"] } };
    expect(await outcomeFor(side, "mx.example.org")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "mail.example.org")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor(side, "elwood.innosoft.com")).toEqual({ failure: "invalid-response" });
    expect(await outcomeFor(side, "localhost")).toEqual({ failure: "invalid-response" });
  });

  it('hosts: "any" accepts every host (no check, as Cyrus SASL)', async () => {
    expect(await outcomeFor({ hostname: "elwood.innosoft.com", options: { hosts: "any" } }, "evil.example")).toMatchObject({ identity: { authcid: "chris" } });
  });

  it("a server that knows no name of its own accepts any host (the behaviour before the check)", async () => {
    expect(await outcomeFor({}, "whatever.example")).toMatchObject({ identity: { authcid: "chris" } });
  });

  it("a mistyped hosts option is refused, naming it", async () => {
    for (const hosts of ["mail.example.org", [], [""], ["a b"], [1], { a: 1 }, null]) {
      const error = await rejects(() => hostServer({ hostname: "h", options: { hosts } }), "invalid-credentials-input");
      expect(error.message, JSON.stringify(hosts)).toContain("digestMd5.hosts");
    }
    expect((await rejects(() => hostServer({ hostname: "h", options: { host: ["h"] } }), "invalid-credentials-input")).message).toContain("digestMd5.host is not an option");
  });
});
