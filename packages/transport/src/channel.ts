/**
 * Channel-binding data from a TLS socket (RFC 5929, RFC 9266). Only the transport touches
 * `node:tls`; mechanisms receive the core `ChannelBinding` capability built here.
 */
import { createHash } from "node:crypto";
import type { TLSSocket } from "node:tls";
import type { ChannelBinding, ChannelBindingType } from "@saslkit/core";

// Signature algorithm OID (dotted) -> hash for tls-server-end-point (RFC 5929 §4.1:
// MD5 and SHA-1 are replaced by SHA-256).
const SIG_HASH: Record<string, string> = {
  "1.2.840.113549.1.1.4": "sha256", // md5WithRSA
  "1.2.840.113549.1.1.5": "sha256", // sha1WithRSA
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.113549.1.1.14": "sha224", // only MD5 and SHA-1 are replaced
  "1.2.840.10045.4.1": "sha256", // ecdsa-with-SHA1
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.2.840.10040.4.3": "sha256", // dsa-with-sha1
  "2.16.840.1.101.3.4.3.2": "sha256", // dsa-with-sha256
};

const HASH_OID: Record<string, string> = {
  "1.3.14.3.2.26": "sha256", // sha1 -> sha256
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

interface Tlv {
  tag: number;
  start: number; // content start
  end: number; // content end
}

function readTlv(der: Uint8Array, at: number): Tlv {
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4) throw new Error("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i]!;
    start += n;
  }
  if (start + len > der.length) throw new Error("DER overrun");
  return { tag, start, end: start + len };
}

function oidToString(der: Uint8Array, tlv: Tlv): string {
  const parts: number[] = [];
  const first = der[tlv.start]!;
  parts.push(Math.floor(first / 40), first % 40);
  let value = 0;
  for (let i = tlv.start + 1; i < tlv.end; i++) {
    value = value * 128 + (der[i]! & 0x7f);
    if (!(der[i]! & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join(".");
}

/**
 * The hash RFC 5929 §4.1 prescribes for a DER certificate, or undefined when its signature
 * algorithm has no defined hash (Ed25519, unknown OIDs).
 */
export function endPointHash(der: Uint8Array): string | undefined {
  try {
    const cert = readTlv(der, 0); // Certificate ::= SEQUENCE
    const tbs = readTlv(der, cert.start);
    const alg = readTlv(der, tbs.end); // signatureAlgorithm AlgorithmIdentifier
    const oid = readTlv(der, alg.start);
    if (oid.tag !== 0x06) return undefined;
    const name = oidToString(der, oid);
    if (name === "1.2.840.113549.1.1.10") {
      // RSASSA-PSS: the hash is in the parameters' [0] hashAlgorithm (default SHA-1 -> SHA-256).
      if (oid.end >= alg.end) return "sha256";
      const params = readTlv(der, oid.end);
      if (params.start >= params.end) return "sha256";
      const first = readTlv(der, params.start);
      if (first.tag !== 0xa0) return "sha256";
      const hashAlg = readTlv(der, first.start);
      const hashOid = readTlv(der, hashAlg.start);
      return HASH_OID[oidToString(der, hashOid)];
    }
    return SIG_HASH[name];
  } catch {
    return undefined;
  }
}

/** tls-server-end-point data: the hash of the server's certificate. */
export function serverEndPoint(der: Uint8Array | undefined): Uint8Array | undefined {
  if (!der || der.length === 0) return undefined;
  const hash = endPointHash(der);
  if (!hash) return undefined;
  return new Uint8Array(createHash(hash).update(der).digest());
}

/**
 * Builds the core `ChannelBinding` for a connected TLS socket. `isServer` says which side we are:
 * the server's certificate and the first Finished message are picked accordingly.
 * - tls-exporter (RFC 9266) is offered on TLS 1.3 only (on 1.2 it needs extended master secret,
 *   which Node cannot confirm);
 * - tls-unique (RFC 5929 §3) on TLS 1.2 and below only;
 * - tls-server-end-point whenever the server certificate's hash is defined.
 */
export function channelBindingFor(socket: TLSSocket, isServer: boolean): ChannelBinding {
  // Computed on first use only: most connections never bind (no -PLUS mechanism is chosen), and
  // reading the peer certificate on every connection cost ~5 KB of native memory per session in
  // a 10,000-session soak (a bare node:tls client showed the same with the same calls).
  let facts: { readonly version: string | null; readonly endPoint: Uint8Array | undefined; readonly types: readonly ChannelBindingType[] } | undefined;
  const read = () => {
    if (facts) return facts;
    const version = socket.getProtocol();
    const tls13 = version === "TLSv1.3";
    const serverCert = isServer ? socket.getX509Certificate?.() : socket.getPeerX509Certificate?.();
    const endPoint = serverEndPoint(serverCert?.raw);
    const types: ChannelBindingType[] = [];
    if (tls13) types.push("tls-exporter");
    if (endPoint) types.push("tls-server-end-point");
    if (!tls13 && version) types.push("tls-unique");
    facts = { version, endPoint, types };
    return facts;
  };
  return {
    get types() {
      return read().types;
    },
    data(type: ChannelBindingType): Uint8Array | undefined {
      // A destroyed socket (the caller aborted, the peer left) has no keys to export: no binding.
      if (socket.destroyed) return undefined;
      const { version, endPoint } = read();
      const tls13 = version === "TLSv1.3";
      switch (type) {
        case "tls-exporter":
          if (!tls13) return undefined;
          return new Uint8Array(socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)));
        case "tls-server-end-point":
          return endPoint;
        case "tls-unique": {
          if (tls13 || !version) return undefined;
          // The first Finished of the handshake: the client's on a full handshake, the server's on resumption.
          const clientFirst = !socket.isSessionReused();
          const ours = clientFirst !== isServer;
          const finished = ours ? socket.getFinished() : socket.getPeerFinished();
          return finished ? new Uint8Array(finished) : undefined;
        }
      }
    },
  };
}
