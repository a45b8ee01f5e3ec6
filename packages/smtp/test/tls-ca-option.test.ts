/**
 * `tlsOptions.ca` must hold a certificate, not only some PEM text. A
 * key (--ca server.key), a CSR or any other PEM block passed the PEM rule (f56ec1a), and Node
 * then loads no CA at all: the client trusts nothing and reports a certificate error that names
 * the server, the misleading failure the rule was written to stop.
 */
import { describe, expect, it } from "vitest";
import { testCertificates, rejectionOf } from "@saslkit/test-kit";
import { SmtpClient, SmtpError, type SmtpClientOptions } from "@saslkit/smtp";

describe("tlsOptions.ca holds a certificate", () => {
  it("a private key (or any PEM that is no certificate) as ca is invalid-option naming tlsOptions.ca; a bundle with a certificate in it passes", async () => {
    const certs = await testCertificates();
    for (const ca of [certs.clientKey, Buffer.from(certs.key), [certs.ca, certs.key]]) {
      const error = await rejectionOf(SmtpClient.connect({ host: "127.0.0.1", port: 1, tlsOptions: { ca } } as unknown as SmtpClientOptions), SmtpError);
      expect(error).toMatchObject({ code: "invalid-option", option: "tlsOptions.ca" });
      expect(error.message).not.toContain("PRIVATE KEY-----\n"); // never quoted
    }
    // A file holding the key and then the certificate (a combined server.pem) is a certificate bundle.
    const combined = await rejectionOf(SmtpClient.connect({ host: "127.0.0.1", port: 1, tlsOptions: { ca: `${certs.key}${certs.ca}` }, timeouts: { connect: 2000 } } as unknown as SmtpClientOptions), SmtpError);
    expect(combined.code).not.toBe("invalid-option");
  });
});
