/**
 * Test doubles shared by the IMAP and POP3 adapter tests: tiny mechanism providers (an adapter
 * package must not depend on mechanism packages; the root tests run the real ones), fixed
 * credentials, and a scripted-server helper that always closes the server.
 */
import { PASSWORD as PASSWORD_KEY, SaslError, USERNAME, utf8, type MechanismProvider, type SaslMechanism } from "@saslkit/core";
import { startScriptedServer, type ScriptedServer, type ScriptedServerOptions } from "@saslkit/test-kit";

const clear = { sendsSecretInClear: true, mutualAuth: false, channelBinding: false } as const;

/** PLAIN as RFC 4616 has it: one client message. */
export const fakePlain: MechanismProvider = {
  name: "PLAIN",
  priority: 300,
  clientFirst: true,
  security: clear,
  needs: [USERNAME, PASSWORD_KEY],
  createClient(ctx): SaslMechanism {
    let done = false;
    return {
      name: "PLAIN",
      get complete() {
        return done;
      },
      async start() {
        done = true;
        return utf8(`\0${ctx.credentials.username}\0${await ctx.credentials.get(PASSWORD_KEY)}`);
      },
      step() {
        throw new SaslError("PLAIN", "bad-state", "no challenge is expected.");
      },
      finish() {},
    };
  },
};

/** A server-first mechanism answering every challenge: the client of a server that loops. */
export const fakeEcho: MechanismProvider = {
  name: "X-ECHO",
  priority: 500,
  clientFirst: false,
  security: { sendsSecretInClear: false, mutualAuth: false, channelBinding: false },
  needs: [USERNAME],
  createClient(): SaslMechanism {
    return { name: "X-ECHO", complete: true, start: () => null, step: () => utf8("again"), finish() {} };
  },
};

/** A mutual-auth mechanism: sends "hello", accepts success data "v=ok" (as a challenge or with the OK). */
export const fakeMutual: MechanismProvider = {
  name: "X-MUTUAL",
  priority: 900,
  clientFirst: true,
  security: { sendsSecretInClear: false, mutualAuth: true, channelBinding: false },
  needs: [USERNAME, PASSWORD_KEY],
  createClient(): SaslMechanism {
    let verified = false;
    const check = (data: Uint8Array | null) => {
      if (data && Buffer.from(data).toString() === "v=ok") verified = true;
      else if (!verified) throw new SaslError("X-MUTUAL", "server-verification-failed", "the server did not prove itself.");
    };
    return {
      name: "X-MUTUAL",
      get complete() {
        return verified;
      },
      start: () => utf8("hello"),
      step(challenge) {
        check(challenge);
        return new Uint8Array(0);
      },
      finish: check,
    };
  },
};

export const USER = "alice";
export const PASSWORD = "Pa55-word!";
/** base64("\0alice\0Pa55-word!") */
export const PLAIN_B64 = "AGFsaWNlAFBhNTUtd29yZCE=";

/** Starts a scripted server for `script` and always closes it. */
export async function withServer<T>(script: string, run: (server: ScriptedServer) => Promise<T>, options?: ScriptedServerOptions): Promise<T> {
  const server = await startScriptedServer(script, options);
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

/** Options for a cleartext loopback test server on `port`: the test user, `mechanisms` (fake PLAIN by default), 5 s timeouts. */
export const loopbackOptions = (port: number, mechanisms: readonly MechanismProvider[] = [fakePlain]) => ({
  host: "127.0.0.1",
  port,
  tls: "none" as const,
  auth: { username: USER, password: PASSWORD },
  mechanisms,
  timeouts: { connect: 5000, reply: 5000 },
});
