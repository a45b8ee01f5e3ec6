/**
 * The DIGEST-MD5 provider: descriptor, factories and the register function.
 */
import { PASSWORD, USERNAME, registerMechanism, type MechanismProvider } from "@saslkit/core";
import { DigestMd5Client, digestMd5Unusable } from "./client.js";
import { NAME } from "./options.js";
import { DigestMd5Server } from "./server.js";

/**
 * The DIGEST-MD5 provider: priority 500 (below every SCRAM, 750 and up; above CRAM-MD5, 400),
 * server-first, no secret in clear, mutual authentication (`rspauth`), no channel binding.
 * Usable only when a `digest-uri` can be built (the adapter gave the service name and host).
 */
export const digestMd5: MechanismProvider = {
  name: NAME,
  priority: 500,
  clientFirst: false,
  security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: false },
  needs: [USERNAME, PASSWORD],
  serverCallbacks: ["lookupDigestMd5Secret", "lookupPassword", "authorize"],
  usable: digestMd5Unusable,
  createClient: (context) => new DigestMd5Client(context),
  createServer: (context) => new DigestMd5Server(context),
};

/** Registers `digestMd5` into `container` (default: tsyringe's root container). */
export function registerDigestMd5(container?: Parameters<typeof registerMechanism>[1]): void {
  registerMechanism(digestMd5, container);
}
