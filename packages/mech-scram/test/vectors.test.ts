/**
 * RFC 5802 (SCRAM-SHA-1), RFC 7677 (SCRAM-SHA-256) and the -PLUS vectors of vectors.md §4,
 * byte for byte, client and server halves, plus the derived intermediates.
 */
import { describe, expect, it } from "vitest";
import { SaslError, utf8 } from "@saslkit/core";
import { ScramClient, ScramServer, deriveScramKeys, type ScramHash } from "@saslkit/mech-scram";
import { keysFromSaltedPassword, saltedPassword, digest } from "../src/keys.js";
import { b64, clientContext, fakeBinding, hex, serverContext, text } from "./helpers.js";

interface Vector {
  readonly name: string;
  readonly hash: ScramHash;
  readonly clientNonce: string;
  readonly serverNonce: string;
  readonly binding?: Parameters<typeof fakeBinding>[0];
  readonly clientFirst: string;
  readonly serverFirst: string;
  readonly clientFinal: string;
  readonly serverFinal: string;
}

const SHA1_SERVER_FIRST = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const ELWOOD = "imap://elwood.innosoft.com/";

const VECTORS: readonly Vector[] = [
  {
    name: "RFC 5802 §5 SCRAM-SHA-1",
    hash: "SHA-1",
    clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
    serverNonce: "3rfcNHYJY1ZVvWVs7j",
    clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    serverFirst: SHA1_SERVER_FIRST,
    clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
  },
  {
    name: "RFC 7677 §3 SCRAM-SHA-256",
    hash: "SHA-256",
    clientNonce: "rOprNGfwEbeRWgbNEkqO",
    serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  },
  {
    name: "MailKit SCRAM-SHA-1-PLUS tls-server-end-point",
    hash: "SHA-1",
    clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
    serverNonce: "3rfcNHYJY1ZVvWVs7j",
    binding: { "tls-server-end-point": ELWOOD },
    clientFirst: "p=tls-server-end-point,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    serverFirst: SHA1_SERVER_FIRST,
    clientFinal: "c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsaW1hcDovL2Vsd29vZC5pbm5vc29mdC5jb20v,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=TJiKTaOm8umanp3qriQ/tSiJ3iY=",
    serverFinal: "v=4FOxt1+Pv761Owg9JJCCJE5ogoU=",
  },
  {
    name: "MailKit SCRAM-SHA-1-PLUS tls-unique",
    hash: "SHA-1",
    clientNonce: "fyko+d2lbbFgONRv9qkxdawL",
    serverNonce: "3rfcNHYJY1ZVvWVs7j",
    binding: { "tls-unique": ELWOOD },
    clientFirst: "p=tls-unique,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
    serverFirst: SHA1_SERVER_FIRST,
    clientFinal: "c=cD10bHMtdW5pcXVlLCxpbWFwOi8vZWx3b29kLmlubm9zb2Z0LmNvbS8=,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=91nyQ+7jn+YxGsblvCxpfKUnxwk=",
    serverFinal: "v=7QQfRcpsgEz8G8pmK+vmYMfLmBU=",
  },
];

function saltAndIterations(serverFirst: string): { salt: Uint8Array; iterations: number } {
  const m = /,s=([^,]+),i=(\d+)$/.exec(serverFirst) as RegExpExecArray;
  return { salt: b64(m[1] as string), iterations: Number(m[2]) };
}

function makeClient(v: Vector): ScramClient {
  const ctx = clientContext(v.binding ? { channel: { channelBinding: fakeBinding(v.binding) } } : {});
  return new ScramClient(ctx, { hash: v.hash, plus: v.binding !== undefined, nonce: v.clientNonce });
}

describe.each(VECTORS)("$name", (v) => {
  it("client: SMTP style (server-final as a challenge) reproduces every byte, completes, then refuses more", async () => {
    const client = makeClient(v);
    expect(text(await client.start())).toBe(v.clientFirst);
    expect(client.complete).toBe(false);
    expect(text(await client.step(utf8(v.serverFirst)))).toBe(v.clientFinal);
    expect(client.complete).toBe(false);
    expect(await client.step(utf8(v.serverFinal))).toEqual(new Uint8Array(0));
    expect(client.complete).toBe(true);
    await client.finish(null);
    await expect(client.step(utf8(v.serverFinal))).rejects.toMatchObject({ code: "bad-state" });
  });

  it("client: IMAP style (server-final as success data) completes", async () => {
    const client = makeClient(v);
    await client.start();
    await client.step(utf8(v.serverFirst));
    await client.finish(utf8(v.serverFinal));
    expect(client.complete).toBe(true);
  });

  it("server: reproduces server-first and server-final from stored keys", async () => {
    const keys = await deriveScramKeys(v.hash, "pencil", saltAndIterations(v.serverFirst));
    const ctx = serverContext({ user: keys }, v.binding ? { channel: { channelBinding: fakeBinding(v.binding) } } : {});
    const server = new ScramServer(ctx, { hash: v.hash, plus: v.binding !== undefined, nonce: v.serverNonce });
    const first = await server.start(utf8(v.clientFirst));
    expect(first.type).toBe("challenge");
    expect(text((first as { data: Uint8Array }).data)).toBe(v.serverFirst);
    const final = await server.step(utf8(v.clientFinal));
    expect(final).toMatchObject({ type: "success", identity: { authcid: "user", authzid: "user" } });
    expect(text((final as { data: Uint8Array }).data)).toBe(v.serverFinal);
    await expect(server.step(utf8(v.clientFinal))).rejects.toMatchObject({ code: "bad-state" });
  });
});

describe("server signature negatives (MailKit)", () => {
  const v = VECTORS[0] as Vector;
  for (const [label, serverFinal] of [
    ["wrong length", "v=rmF9pqV8S7suAoZWja4dJRkF"],
    ["wrong hash", "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="],
  ] as const) {
    it(`rejects v= with the ${label}, as a challenge and as success data`, async () => {
      for (const deliver of ["step", "finish"] as const) {
        const client = makeClient(v);
        await client.start();
        await client.step(utf8(v.serverFirst));
        const attempt = deliver === "step" ? client.step(utf8(serverFinal)) : client.finish(utf8(serverFinal));
        const error = await attempt.then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(SaslError);
        expect(error).toMatchObject({ code: "server-verification-failed", mechanism: "SCRAM-SHA-1" });
        expect(client.complete).toBe(false);
      }
    });
  }

  it("rejects the -PLUS signature when the binding data differs", async () => {
    const plus = VECTORS[2] as Vector;
    const ctx = clientContext({ channel: { channelBinding: fakeBinding({ "tls-server-end-point": "imap://other.example/" }) } });
    const client = new ScramClient(ctx, { hash: "SHA-1", plus: true, nonce: plus.clientNonce });
    await client.start();
    const final = text(await client.step(utf8(plus.serverFirst)));
    expect(final).not.toBe(plus.clientFinal);
    await expect(client.step(utf8(plus.serverFinal))).rejects.toMatchObject({ code: "server-verification-failed" });
  });
});

describe("derived intermediates (vectors.md §2, §3)", () => {
  it("SCRAM-SHA-1: SaltedPassword, ClientKey, StoredKey, ServerKey", async () => {
    const salted = await saltedPassword("SHA-1", "pencil", b64("QSXCR+Q6sek8bf92"), 4096);
    expect(hex(salted)).toBe("1d96ee3a529b5a5f9e47c01f229a2cb8a6e15f7d");
    const { clientKey, serverKey } = keysFromSaltedPassword("SHA-1", salted);
    expect(hex(clientKey)).toBe("e234c47bf6c36696dd6d852b99aaa2ba26555728");
    expect(hex(digest("SHA-1", clientKey))).toBe("e9d94660c39d65c38fbad91c358f14da0eef2bd6");
    expect(hex(serverKey)).toBe("0fe09258b3ac852ba502cc62ba903eaacdbf7d31");
  });

  it("SCRAM-SHA-256: SaltedPassword, ClientKey, StoredKey, ServerKey", async () => {
    const salted = await saltedPassword("SHA-256", "pencil", b64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
    expect(hex(salted)).toBe("c4a49510323ab4f952cac1fa99441939e78ea74d6be81ddf7096e87513dc615d");
    const { clientKey, serverKey } = keysFromSaltedPassword("SHA-256", salted);
    expect(hex(clientKey)).toBe("a60fc923d67e8644a92d16b96eda5ef4656b0c725c484374be25535576996e8b");
    expect(hex(digest("SHA-256", clientKey))).toBe("586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6");
    expect(hex(serverKey)).toBe("c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5");
  });

  it("deriveScramKeys stores StoredKey and ServerKey, not the password", async () => {
    const keys = await deriveScramKeys("SHA-1", "pencil", { salt: b64("QSXCR+Q6sek8bf92"), iterations: 4096 });
    expect(hex(keys.storedKey)).toBe("e9d94660c39d65c38fbad91c358f14da0eef2bd6");
    expect(hex(keys.serverKey)).toBe("0fe09258b3ac852ba502cc62ba903eaacdbf7d31");
    expect(keys.iterations).toBe(4096);
    expect(JSON.stringify(Object.keys(keys).sort())).toBe('["iterations","salt","serverKey","storedKey"]');
  });
});
