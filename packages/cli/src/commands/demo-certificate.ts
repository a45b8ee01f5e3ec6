/**
 * The demo's throwaway certificates, made with node:crypto alone (no `openssl` binary, no
 * dependency): a CA and a server certificate for `localhost`, 127.0.0.1 and ::1, ECDSA P-256
 * signed with SHA-256, valid for one day. node:crypto signs but has no X.509 writer, so the few
 * DER structures of RFC 5280 a certificate needs are written here.
 */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";

export interface DemoCertificate {
  /** The CA certificate (PEM) a client trusts to verify the server. */
  readonly ca: string;
  /** The server's private key and certificate (PEM). */
  readonly key: string;
  readonly cert: string;
}

// --- DER (X.690) -----------------------------------------------------------------------------
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), length(content.length), content]);
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 + n, content);
const octets = (content: Buffer): Buffer => tlv(0x04, content);
const bits = (content: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unused]), content]));
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function integer(value: Buffer): Buffer {
  let v = value;
  while (v.length > 1 && v[0] === 0 && v[1]! < 0x80) v = v.subarray(1);
  return tlv(0x02, v[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after. */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}

const name = (cn: string): Buffer => seq(set(seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from(cn, "utf8")))));
const extension = (id: string, critical: boolean, value: Buffer): Buffer => seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));

function certificate(subject: string, issuer: string, publicKey: KeyObject, signer: KeyObject, extensions: Buffer[]): string {
  const now = Date.now();
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    ECDSA_SHA256,
    name(issuer),
    seq(time(new Date(now - 60 * 60 * 1000)), time(new Date(now + 24 * 60 * 60 * 1000))),
    name(subject),
    publicKey.export({ type: "spki", format: "der" }),
    explicit(3, seq(...extensions)),
  );
  const der = seq(tbs, ECDSA_SHA256, bits(sign("sha256", tbs, signer)));
  const body = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/**
 * A fresh CA and a server certificate it signed, for a demo on the loopback interface. `dnsNames`
 * (default `localhost`) become the certificate's DNS names (the consumer test adds the example
 * domains its README examples use); 127.0.0.1 and ::1 are always included.
 */
export function demoCertificate(dnsNames: readonly string[] = ["localhost"]): DemoCertificate {
  const ca = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const server = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const caName = "saslkit demo CA";
  const caCert = certificate(caName, caName, ca.publicKey, ca.privateKey, [
    extension("2.5.29.19", true, seq(TRUE)), // basicConstraints: CA
    extension("2.5.29.15", true, bits(Buffer.from([0x06]), 1)), // keyUsage: keyCertSign, cRLSign
  ]);
  const san = seq(
    ...dnsNames.map((n) => tlv(0x82, Buffer.from(n, "ascii"))), // dNSName
    tlv(0x87, Buffer.from([127, 0, 0, 1])), // iPAddress
    tlv(0x87, Buffer.from([...new Array<number>(15).fill(0), 1])), // ::1
  );
  const serverCert = certificate(dnsNames[0] ?? "localhost", caName, server.publicKey, ca.privateKey, [
    extension("2.5.29.19", true, seq()), // basicConstraints: not a CA
    extension("2.5.29.15", true, bits(Buffer.from([0x80]), 7)), // keyUsage: digitalSignature
    extension("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))), // extKeyUsage: serverAuth
    extension("2.5.29.17", false, san),
  ]);
  return { ca: caCert, key: server.privateKey.export({ type: "pkcs8", format: "pem" }) as string, cert: serverCert };
}
