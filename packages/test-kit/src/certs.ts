/**
 * Test certificates, made with the `openssl` command-line tool (present on every development and
 * CI machine we use; node:crypto cannot issue X.509 certificates). One CA, one server
 * certificate for `localhost` and 127.0.0.1, one client certificate (CN `testuser`) for EXTERNAL.
 * ECDSA P-256, signed with SHA-256 (so tls-server-end-point hashes with SHA-256). Generated once
 * per process into a temporary directory that is removed right after.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificates {
  /** CA certificate (PEM) that signed both certificates below. */
  readonly ca: string;
  /** Server key and certificate (PEM), SAN DNS:localhost, IP:127.0.0.1, IP:::1. */
  readonly key: string;
  readonly cert: string;
  /** Client key and certificate (PEM), subject CN=testuser, for TLS client authentication. */
  readonly clientKey: string;
  readonly clientCert: string;
}

function openssl(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("openssl", args, { cwd, timeout: 20000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args[0]} failed: ${stderr || error.message}`));
      else resolve();
    });
  });
}

async function generate(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), "saslkit-certs-"));
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=saslkit test CA", "-sha256"], dir);
    await writeFile(join(dir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n");
    await writeFile(join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
    await openssl(["req", "-new", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], dir);
    await openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "3650", "-sha256", "-extfile", "server.ext"], dir);
    await openssl(["req", "-new", ...ec, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=testuser"], dir);
    await openssl(["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.pem", "-days", "3650", "-sha256", "-extfile", "client.ext"], dir);
    const read = (name: string) => readFile(join(dir, name), "utf8");
    return { ca: await read("ca.pem"), key: await read("server.key"), cert: await read("server.pem"), clientKey: await read("client.key"), clientCert: await read("client.pem") };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

let cached: Promise<TestCertificates> | undefined;

/** Test helper: a CA, a server certificate for localhost/127.0.0.1 and a client certificate; cached per process. */
export function testCertificates(): Promise<TestCertificates> {
  cached ??= generate().catch((error) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
