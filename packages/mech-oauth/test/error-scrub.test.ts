/**
 * The OAuth error's echo scrub (3b78fbe) looked for the token, its
 * base64, base64url and lower-case hex only, in texts only.
 */
import { describe, expect, it } from "vitest";
import { Credentials, utf8 } from "@saslkit/core";
import { OAuthBearerClient } from "@saslkit/mech-oauth";

async function started(token: string): Promise<OAuthBearerClient> {
  const client = new OAuthBearerClient({ credentials: Credentials.from({ username: "alice", token }), channel: { secure: true, host: "mail.example.com", port: 587, service: "smtp" }, offered: ["OAUTHBEARER"], options: {} });
  await client.start();
  return client;
}

describe("the server's OAuth error keeps no echo of the token", () => {
  it("in upper-case hex (the redactor masks both hex cases)", async () => {
    const token = "s3cr3t-token";
    const client = await started(token);
    client.step(utf8(JSON.stringify({ status: "invalid_token", debug: Buffer.from(token).toString("hex").toUpperCase() })));
    expect(client.failureDetail).toEqual({ status: "invalid_token" });
  });

  it("as a JSON number (a token of digits is a b64token too)", async () => {
    const token = "8675309123456";
    const client = await started(token);
    client.step(utf8(`{"status":"invalid_token","seen":${token}}`));
    expect(JSON.stringify(client.failureDetail)).not.toContain(token);
    const other = await started(token);
    other.step(utf8(`{"status":${token}}`));
    expect(JSON.stringify(other.failureDetail)).not.toContain(token);
  });
});
