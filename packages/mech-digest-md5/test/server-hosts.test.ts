/**
 * Regression tests for the DIGEST-MD5 server's digest-uri host check.
 */
import { describe, expect, it } from "vitest";
import { Credentials, pairedExchange, runExchange } from "@saslkit/core";
import { DigestMd5Client, DigestMd5Server } from "@saslkit/mech-digest-md5";

/** The server's outcome for a client whose digest-uri is `smtp/<clientHost>`. */
async function outcomeFor(server: { hostname?: string; hosts?: string[] }, clientHost: string) {
  const s = new DigestMd5Server({
    callbacks: { lookupPassword: (u) => (u === "chris" ? "secret" : undefined) },
    hostname: server.hostname ?? "",
    channel: { secure: true, service: "smtp", loopback: false },
    options: server.hosts ? { digestMd5: { hosts: server.hosts } } : {},
  });
  const c = new DigestMd5Client({ credentials: Credentials.from({ username: "chris", password: "secret" }), channel: { secure: true, service: "smtp", host: clientHost }, options: {} });
  const exchange = pairedExchange(s);
  await runExchange(c, exchange).catch(() => undefined);
  return exchange.outcome;
}

describe("DIGEST-MD5 server: an SMTP address literal names the server's address", () => {
  it("hostname [IPv6:2001:db8::1] (RFC 5321's form for an EHLO name) accepts a client that connected to 2001:db8::1", async () => {
    for (const clientHost of ["2001:db8::1", "[2001:db8::1]", "2001:DB8::1"]) {
      expect(await outcomeFor({ hostname: "[IPv6:2001:db8::1]" }, clientHost), clientHost).toMatchObject({ identity: { authcid: "chris" } });
    }
    expect(await outcomeFor({ hosts: ["[IPv6:2001:db8::1]"] }, "2001:db8::1")).toMatchObject({ identity: { authcid: "chris" } });
    expect(await outcomeFor({ hostname: "[IPv6:2001:db8::1]" }, "2001:db8::2")).toEqual({ failure: "invalid-response" });
  });

  it("hostname [192.0.2.1] accepts a client that connected to 192.0.2.1", async () => {
    expect(await outcomeFor({ hostname: "[192.0.2.1]" }, "192.0.2.1")).toMatchObject({ identity: { authcid: "chris" } });
  });

  it("a name given with a trailing root dot or in another case on either side is the same name", async () => {
    for (const [hostname, clientHost] of [["mail.example.org.", "MAIL.Example.ORG"], ["MAIL.EXAMPLE.ORG", "mail.example.org."], ["[::1]", "::1"]]) {
      expect(await outcomeFor({ hostname: hostname! }, clientHost!), `${hostname} / ${clientHost}`).toMatchObject({ identity: { authcid: "chris" } });
    }
  });
});
