// Minimal providers with the properties of real mechanisms, so core is tested without any mechanism package.
import {
  defineCredential,
  USERNAME,
  PASSWORD,
  SaslError,
  utf8,
  type ClientContext,
  type MechanismProvider,
  type SaslMechanism,
  type SecurityProperties,
} from "../src/index.js";

/** A secret of a kind core does not know, as a family package would declare it. */
const TOKEN_KEY = defineCredential("token", { secret: true });

const clear: SecurityProperties = { sendsSecretInClear: true, mutualAuth: false, channelBinding: false };
const hashed: SecurityProperties = { sendsSecretInClear: false, mutualAuth: false, channelBinding: false };

/** A client that sends `name` as IR and completes after `rounds` challenges, echoing them. */
export class ScriptClient implements SaslMechanism {
  complete = false;
  seen: Uint8Array[] = [];
  finished: (Uint8Array | null)[] = [];
  constructor(
    readonly name: string,
    private readonly rounds: number,
    private readonly ir: Uint8Array | null,
  ) {
    if (rounds === 0) this.complete = true;
  }
  start() {
    return this.ir;
  }
  step(challenge: Uint8Array) {
    if (this.complete) throw new SaslError(this.name, "bad-state", "step after completion.");
    this.seen.push(challenge);
    if (this.seen.length >= this.rounds) this.complete = true;
    return challenge;
  }
  finish(data: Uint8Array | null) {
    this.finished.push(data);
  }
}

export function provider(name: string, priority: number, extra: Partial<MechanismProvider> = {}): MechanismProvider {
  return {
    name,
    priority,
    clientFirst: true,
    security: hashed,
    needs: [USERNAME, PASSWORD],
    createClient: (_: ClientContext) => new ScriptClient(name, 0, utf8(name)),
    ...extra,
  };
}

export const PLAIN = provider("PLAIN", 300, { security: clear });
export const LOGIN = provider("LOGIN", 200, { security: clear, clientFirst: false });
export const CRAM = provider("CRAM-MD5", 400, { clientFirst: false });
export const TOKEN = provider("XTOKEN", 640, { security: clear, needs: [TOKEN_KEY] });
export const EXT = provider("EXTERNAL", 100, { needs: [], explicitOnly: true, security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false } });
export const ANON = provider("ANONYMOUS", 50, {
  needs: [],
  usable: (c) => (c.credentials.isEmpty ? undefined : "ANONYMOUS is used only when no credentials are given"),
});
