import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { Credentials } from "@saslkit/core";
import { OAuthBearerClient, TOKEN, TOKEN_PROVIDER } from "@saslkit/mech-oauth";

// The OAuth family's credentials, declared in this package: they get the protection a password gets.
describe("OAuth credentials (token, tokenProvider)", () => {
  const token = "ya29.TOKEN-VALUE";

  it("never prints a token", () => {
    const c = Credentials.from({ username: "alice", password: "pw-1", token, tokenProvider: () => "fresh-token-1" });
    const printed = [inspect(c), inspect({ nested: { c } }, { depth: 10 }), JSON.stringify(c), String(c)].join("\n");
    expect(printed).not.toContain(token);
    expect(printed).not.toContain("fresh-token-1");
    expect(printed).toContain("alice");
    expect(JSON.parse(JSON.stringify(c))).toMatchObject({ token: "[redacted]", tokenProvider: "[redacted]" });
  });

  it("resolves the token and asks the provider with the request", async () => {
    const calls: unknown[] = [];
    const c = Credentials.from({ username: "a", token: "old", tokenProvider: (r) => (calls.push(r), "new") });
    expect(c.has(TOKEN)).toBe(true);
    expect(c.has(TOKEN_PROVIDER)).toBe(true);
    await expect(c.get(TOKEN)).resolves.toBe("old");
    await expect(c.get(TOKEN_PROVIDER, { refresh: true, username: "a" })).resolves.toBe("new");
    expect(calls).toEqual([{ refresh: true, username: "a" }]);
  });

  it("hands a token fetched from the provider to the secret listeners", async () => {
    const seen: string[] = [];
    const credentials = Credentials.from({ tokenProvider: () => "provided-token-77" });
    credentials.onSecret((v) => seen.push(v));
    await new OAuthBearerClient({ credentials, channel: { secure: true }, offered: ["OAUTHBEARER"], options: {} }).start();
    expect(seen).toEqual(["provided-token-77"]);
  });

  it("never retries twice: the retry's client asks for no further refresh", async () => {
    const credentials = Credentials.from({ token: "old", tokenProvider: () => "new" });
    const retry = new OAuthBearerClient({ credentials, channel: { secure: true }, offered: ["OAUTHBEARER"], options: {}, freshCredentials: true });
    await retry.start();
    retry.step(new TextEncoder().encode('{"status":"invalid_token"}'));
    expect(retry.retryWithFreshCredentials).toBe(false);
  });
});
