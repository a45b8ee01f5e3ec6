/**
 * One place chooses the channel-binding type: the SCRAM mechanism option
 * `mechanismOptions.scram.channelBinding`, the same for SMTP, IMAP and POP3
 * (docs/decisions/0013-one-mail-client-shape.md). A client option `channelBinding` is refused
 * by all three clients before any connection, with a pointer to the mechanism option.
 */
import { describe, expect, it } from "vitest";
import { ImapClient } from "@saslkit/imap";
import { Pop3Client } from "@saslkit/pop3";
import { SmtpClient } from "@saslkit/smtp";

const clients: [string, (options: Record<string, unknown>) => Promise<unknown>][] = [
  ["SmtpClient", (o) => SmtpClient.connect(o as never)],
  ["ImapClient", (o) => ImapClient.connect(o as never)],
  ["Pop3Client", (o) => Pop3Client.connect(o as never)],
];

describe("the client option channelBinding is refused in favour of mechanismOptions.scram.channelBinding", () => {
  for (const [name, connect] of clients) {
    it(`${name}: invalid-option naming channelBinding and the mechanism option`, async () => {
      // Port 1 on loopback: were the option not refused first, the error would be a connection failure.
      const error = (await connect({ host: "127.0.0.1", port: 1, channelBinding: "tls-server-end-point" }).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code: string; option: string; message: string } | undefined;
      expect(error).toMatchObject({ code: "invalid-option", option: "channelBinding" });
      expect(error!.message).toContain('"channelBinding" is not one of this client\'s options');
      expect(error!.message).toContain("mechanismOptions: { scram: { channelBinding:");
      expect(error!.message).not.toContain("another mail library");
    });
  }

  it("the mechanism option passes the client's check (its content is SCRAM's to read)", async () => {
    for (const [, connect] of clients) {
      const error = (await connect({ host: "127.0.0.1", port: 1, mechanismOptions: { scram: { channelBinding: "tls-server-end-point" } }, timeouts: { connect: 2000 } }).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code: string } | undefined;
      expect(error?.code).not.toBe("invalid-option");
    }
  });
});
