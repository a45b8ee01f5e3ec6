/**
 * `mechanismOptions.digestMd5` (client) and `options.digestMd5` (server half): read once per
 * exchange and validated, so a misspelt key or a wrong type is an error that names it.
 */
import { SaslError, type ChannelInfo } from "@saslkit/core";

export const NAME = "DIGEST-MD5";

/** Client settings, given as `mechanismOptions: { digestMd5: { ... } }`. */
export interface DigestMd5Options {
  /**
   * The realm to authenticate in. Default: the first realm the server offers (none when it
   * offers none). Needed for servers that offer several realms and whose user is not in the first.
   */
  readonly realm?: string;
  /**
   * The service part of `digest-uri` (`smtp`, `imap`, `pop`, `ldap`, ...). Default: the service
   * name the protocol adapter hands in (`ChannelInfo.service`).
   */
  readonly service?: string;
  /**
   * The host part of `digest-uri`. Default: the host name the caller connected to
   * (`ChannelInfo.host`). Set it when the server expects its canonical name and you connect by
   * address.
   */
  readonly host?: string;
  /**
   * When the server says `charset=utf-8`: false (default) hashes the UTF-8 user name and password
   * as sent, as Dovecot, Cyrus SASL and Authen::SASL do; true converts each of them to ISO 8859-1
   * first when all its characters fit, as RFC 2831 §2.1.2.1 words it. Only non-ASCII
   * credentials are affected. Without `charset=utf-8` they are always ISO 8859-1.
   */
  readonly latin1Hash?: boolean;
}

/** Server-half settings, given as `options: { digestMd5: { ... } }` in the server's context. */
export interface DigestMd5ServerOptions {
  /** Realms to offer, in order. Default: the server's host name. `[]` offers none. */
  readonly realms?: readonly string[];
  /**
   * The service the client's `digest-uri` must name. Default: `ChannelInfo.service`; when neither
   * is known, any service is accepted.
   */
  readonly service?: string;
  /**
   * The host names (or addresses) the host part of the client's `digest-uri` may name, compared
   * without regard to case (RFC 2831 §2.1.2.1: the server SHOULD check it is one of its names;
   * this detects a response meant for another server). Default: the names the server knows
   * itself by, `ServerContext.hostname` and `ChannelInfo.host`, the address the client connected
   * to (`ChannelInfo.localAddress`), and on a loopback connection also `localhost`, `127.x.x.x`
   * and `::1`; when the server knows no name, any host is accepted. Other names a client may use
   * (another name of the machine, a NAT's public address): list them here, with the default ones
   * still wanted. `"any"` turns the check off (as Cyrus SASL does not check). A non-empty list of
   * names, or `"any"`.
   */
  readonly hosts?: readonly string[] | "any";
}

const CLIENT_KEYS = new Set(["realm", "service", "host", "latin1Hash"]);
const SERVER_KEYS = new Set(["realms", "service", "hosts"]);

function invalid(message: string): SaslError {
  return new SaslError(NAME, "invalid-credentials-input", message);
}

function bag(options: Readonly<Record<string, unknown>>, keys: ReadonlySet<string>): Record<string, unknown> {
  const raw = options["digestMd5"];
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid("mechanismOptions.digestMd5 must be an object.");
  for (const key of Object.keys(raw)) {
    if (!keys.has(key)) throw invalid(`mechanismOptions.digestMd5.${key} is not an option; accepted: ${[...keys].join(", ")}.`);
  }
  return raw as Record<string, unknown>;
}

function optionalString(o: Record<string, unknown>, key: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalid(`mechanismOptions.digestMd5.${key} must be a string.`);
  return v;
}

/** Reads and checks the client options. */
export function resolveClientOptions(options: Readonly<Record<string, unknown>>): DigestMd5Options {
  const o = bag(options, CLIENT_KEYS);
  const realm = optionalString(o, "realm");
  const service = optionalString(o, "service");
  const host = optionalString(o, "host");
  const latin1Hash = o["latin1Hash"];
  if (latin1Hash !== undefined && typeof latin1Hash !== "boolean") throw invalid("mechanismOptions.digestMd5.latin1Hash must be true or false.");
  if (service === "" || host === "") throw invalid("mechanismOptions.digestMd5 service and host must not be empty.");
  return {
    ...(realm !== undefined ? { realm } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(latin1Hash !== undefined ? { latin1Hash } : {}),
  };
}

/** Reads and checks the server options. */
export function resolveServerOptions(options: Readonly<Record<string, unknown>>): DigestMd5ServerOptions {
  const o = bag(options, SERVER_KEYS);
  const realms = o["realms"];
  if (realms !== undefined && !(Array.isArray(realms) && realms.every((r) => typeof r === "string"))) {
    throw invalid("mechanismOptions.digestMd5.realms must be an array of strings.");
  }
  const service = optionalString(o, "service");
  const hosts = o["hosts"];
  if (hosts !== undefined && hosts !== "any" && !(Array.isArray(hosts) && hosts.length > 0 && hosts.every((h) => typeof h === "string" && /^[^\s/]+$/.test(h)))) {
    throw invalid('mechanismOptions.digestMd5.hosts must be "any" or a non-empty array of host names (no spaces or slashes).');
  }
  return {
    ...(realms !== undefined ? { realms: realms as string[] } : {}),
    ...(service !== undefined ? { service } : {}),
    ...(hosts !== undefined ? { hosts: hosts as readonly string[] | "any" } : {}),
  };
}

/** `ChannelInfo.service` when the adapter set a non-empty one. */
export function channelService(channel: ChannelInfo): string | undefined {
  return channel.service !== undefined && channel.service !== "" ? channel.service : undefined;
}
