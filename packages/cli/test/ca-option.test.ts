/** --ca with a file that holds PEM but no certificate (a key). */
import { describe, expect, it } from "vitest";
import { testCertificates } from "@saslkit/test-kit";
import { tlsTrust } from "../src/options.js";
import { UsageError } from "../src/io.js";
import { memoryIo } from "./helpers.js";

describe("--ca", () => {
  it("a file holding a private key (--ca server.key) is a usage error naming the file, never its contents", async () => {
    const certs = await testCertificates();
    const { io } = memoryIo({ files: { "/server.key": certs.key, "/ca.pem": certs.ca } });
    const error = await tlsTrust({ ca: "/server.key" }, io).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain("/server.key holds no PEM certificate");
    expect((error as Error).message).not.toContain("PRIVATE KEY");
    expect(await tlsTrust({ ca: "/ca.pem" }, io)).toEqual({ ca: certs.ca });
  });
});
