/**
 * docs/decisions/0002-mechanism-order.md lists every shipped mechanism with its priority; the
 * table and the providers' `priority` fields must not drift apart.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { anonymous } from "@saslkit/mech-anonymous";
import { cramMd5 } from "@saslkit/mech-cram-md5";
import { digestMd5 } from "@saslkit/mech-digest-md5";
import { external } from "@saslkit/mech-external";
import { login } from "@saslkit/mech-login";
import { oauthBearer, xoauth2 } from "@saslkit/mech-oauth";
import { plain } from "@saslkit/mech-plain";
import { scramProviders } from "@saslkit/mech-scram";

const shipped = [...scramProviders, oauthBearer, xoauth2, digestMd5, cramMd5, plain, login, external, anonymous];

describe("decision 0002's preference table", () => {
  it("names every shipped mechanism with the priority its provider declares, highest first", () => {
    const text = readFileSync(new URL("../docs/decisions/0002-mechanism-order.md", import.meta.url), "utf8");
    const rows = [...text.matchAll(/^\| (\d+) \| ([A-Z0-9-]+) \|/gm)].map((m) => [m[2]!, Number(m[1])] as const);
    expect(rows).toEqual(shipped.map((p) => [p.name, p.priority] as const).sort((a, b) => b[1] - a[1]));
  });
});
