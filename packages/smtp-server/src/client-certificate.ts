/**
 * Who a TLS client certificate names, for EXTERNAL (RFC 4422 Appendix A), checked as OpenSSL's
 * client-purpose verification does (the check Postfix and Dovecot rely on): a chain from the
 * client's certificate to one of the configured CAs, every link's signature and validity period
 * checked, every intermediate a CA (basicConstraints), and the purpose honoured (RFC 5280
 * §4.2.1.12): the leaf, and any intermediate that restricts it, must allow TLS client
 * authentication (extendedKeyUsage clientAuth or anyExtendedKeyUsage, or no extendedKeyUsage at
 * all). A CA-issued certificate for serverAuth only does not log in.
 *
 * A standalone server-side `TLSSocket` (STARTTLS) never computes `authorized` (only `tls.Server`
 * does), so the check is made here with public `X509Certificate` APIs.
 */
import { X509Certificate } from "node:crypto";
import type { DetailedPeerCertificate, TLSSocket } from "node:tls";

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
const ANY_EKU = "2.5.29.37.0";
const MAX_DEPTH = 8;

export type ClientCertificateVerdict = { readonly identity: string } | { readonly problem: string };

function extendedKeyUsage(cert: X509Certificate): readonly string[] | undefined {
  // Node names the EKU list `keyUsage` (newer releases add `extKeyUsage`); undefined when absent.
  const c = cert as X509Certificate & { extKeyUsage?: string[] };
  return c.extKeyUsage ?? c.keyUsage;
}

function allowsClientAuth(cert: X509Certificate): boolean {
  const eku = extendedKeyUsage(cert);
  return eku === undefined || eku.includes(CLIENT_AUTH) || eku.includes(ANY_EKU);
}

function inDate(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
}

function parse(pem: string | Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** The certificates the client sent after its own (its intermediates), from the legacy chain object. */
function sentIntermediates(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let detailed: DetailedPeerCertificate | undefined;
  try {
    detailed = socket.getPeerCertificate(true);
  } catch {
    return out;
  }
  const seen = new Set<DetailedPeerCertificate>();
  let at = detailed?.issuerCertificate;
  while (at && !seen.has(at) && out.length < MAX_DEPTH) {
    seen.add(at);
    const cert = at.raw ? parse(at.raw) : undefined;
    if (cert) out.push(cert);
    at = at.issuerCertificate;
  }
  return out;
}

/** Verifies `leaf` up to one of `anchors`, with purpose; `intermediates` are untrusted helpers. */
export function verifyClientChain(leaf: X509Certificate, intermediates: readonly X509Certificate[], anchors: readonly X509Certificate[], now = Date.now()): ClientCertificateVerdict {
  if (!inDate(leaf, now)) return { problem: "the client certificate is outside its validity period" };
  if (!allowsClientAuth(leaf)) return { problem: "the client certificate is not for TLS client authentication (extendedKeyUsage lacks clientAuth)" };
  let current = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const anchor = anchors.find((a) => issues(a, current));
    if (anchor) {
      if (!inDate(anchor, now)) return { problem: "the issuing CA certificate is outside its validity period" };
      if (!allowsClientAuth(anchor)) return { problem: "the issuing CA does not allow TLS client authentication" };
      const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject);
      return cn?.[1] ? { identity: cn[1] } : { problem: "the client certificate has no common name" };
    }
    const next = intermediates.find((c) => c !== current && issues(c, current));
    if (!next) return { problem: "the client certificate was not issued under a trusted CA" };
    if (!next.ca) return { problem: "an intermediate certificate is not a CA" };
    if (!inDate(next, now)) return { problem: "an intermediate certificate is outside its validity period" };
    if (!allowsClientAuth(next)) return { problem: "an intermediate CA does not allow TLS client authentication" };
    current = next;
  }
  return { problem: "the certificate chain is too long" };
}

/** The verdict for the certificate the client presented on `socket`, or undefined when it sent none. */
export function verifyClientCertificate(socket: TLSSocket, ca: string | Buffer | Array<string | Buffer>): ClientCertificateVerdict | undefined {
  let leaf: X509Certificate | undefined;
  try {
    const detailed = socket.getPeerCertificate(true);
    leaf = detailed?.raw ? parse(detailed.raw) : undefined;
  } catch {
    leaf = undefined;
  }
  if (!leaf) return undefined;
  const anchors = (Array.isArray(ca) ? ca : [ca]).map(parse).filter((c): c is X509Certificate => c !== undefined);
  return verifyClientChain(leaf, sentIntermediates(socket), anchors);
}
