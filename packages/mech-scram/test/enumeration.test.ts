/**
 * Issue 10 item 6: the SCRAM server must not tell who exists. The made-up server-first for an
 * unknown user looks like a real one (the deployment's iteration count and salt length, a salt
 * stable per name), the outcome is the same as a wrong password, and so is the work done.
 */
import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import { pairedExchange, runExchange, utf8 } from "@saslkit/core";
import type { ServerStep } from "@saslkit/core";
import { ScramClient, ScramServer, deriveScramKeys, prepareScramPassword, type ScramStoredKeys } from "@saslkit/mech-scram";
import { clientContext, serverContext, text } from "./helpers.js";

const ITERATIONS = 10_000;
const SALT_BYTES = 24;
let real: ScramStoredKeys;
const users = () => ({ alice: real });
const ready = (async () => {
  real = await deriveScramKeys("SHA-256", prepareScramPassword("correct horse"), { iterations: ITERATIONS, salt: new Uint8Array(SALT_BYTES).fill(7) });
})();

/** The server-first attributes for `user`, from a fresh server. */
async function serverFirst(user: string, options: Record<string, unknown> = {}) {
  await ready;
  const server = new ScramServer(serverContext(users(), { options }), { hash: "SHA-256" });
  const step = await server.start(utf8(`n,,n=${user},r=clientnonce`));
  const first = text((step as { data: Uint8Array }).data) as string;
  const [, nonce, salt, iterations] = /^r=([^,]+),s=([^,]+),i=(\d+)$/.exec(first) ?? [];
  return { nonce, salt: Buffer.from(salt ?? "", "base64"), iterations: Number(iterations) };
}

describe("SCRAM server: no user enumeration", () => {
  it("unknown_user_server_first_uses_the_deployments_iteration_count_and_salt_length (learned from real keys)", async () => {
    const known = await serverFirst("alice");
    const unknown = await serverFirst("mallory");
    expect(known.iterations).toBe(real.iterations);
    expect(unknown.iterations).toBe(known.iterations);
    expect(unknown.salt.length).toBe(known.salt.length);
    expect(unknown.salt.length).toBe(real.salt.length);
  });

  it("unknown_user_server_first_uses_configured_iterations_and_salt_length", async () => {
    const unknown = await serverFirst("mallory", { scram: { iterations: 600_000, saltLength: 28 } });
    expect(unknown.iterations).toBe(600_000);
    expect(unknown.salt.length).toBe(28);
  });

  it("unknown_user_salt_is_stable_per_name_and_differs_between_names", async () => {
    const a1 = await serverFirst("mallory");
    const a2 = await serverFirst("mallory");
    const b = await serverFirst("trudy");
    expect(a1.salt.equals(a2.salt)).toBe(true);
    expect(a1.salt.equals(b.salt)).toBe(false);
  });

  it("unknown_user_salt_follows_the_configured_server_secret", async () => {
    const secret = (n: number) => ({ scram: { unknownUserSecret: new Uint8Array(32).fill(n) } });
    const one = await serverFirst("mallory", secret(1));
    expect((await serverFirst("mallory", secret(1))).salt.equals(one.salt)).toBe(true);
    expect((await serverFirst("mallory", secret(2))).salt.equals(one.salt)).toBe(false);
  });

  it("unknown_user_fails_exactly_like_a_wrong_password", async () => {
    await ready;
    const outcome = async (username: string, password: string) => {
      const server = new ScramServer(serverContext(users()), { hash: "SHA-256" });
      let failure: ServerStep | undefined;
      const exchange = pairedExchange({
        name: server.name,
        start: async (i) => server.start(i),
        step: async (r) => {
          const s = await server.step(r);
          if (s.type === "failure") failure = s;
          return s;
        },
      });
      const client = new ScramClient(clientContext({ credentials: { username, password }, options: { scram: { cache: false, maxIterations: 1_000_000 } } }), { hash: "SHA-256" });
      const error = await runExchange(client, exchange).catch((e: unknown) => e as Error);
      return { failure, message: error instanceof Error ? error.message : "", rounds: exchange.sent.length };
    };
    const wrongPassword = await outcome("alice", "wrong horse");
    const unknownUser = await outcome("mallory", "wrong horse");
    expect(unknownUser.failure).toEqual(wrongPassword.failure);
    expect(unknownUser.failure).toEqual({ type: "failure", code: "authentication-failed", message: "e=invalid-proof", reason: "credentials" });
    expect(unknownUser.message).toBe(wrongPassword.message);
    expect(unknownUser.rounds).toBe(wrongPassword.rounds);
  });

  it("unknown_user_timing_matches_a_wrong_password (same work, constant-time compare)", async () => {
    await ready;
    // Precompute one client-final per case against a server with a fixed nonce, then time only the server.
    const NONCE = "fixedservernonce";
    const clientFinal = async (username: string) => {
      const server = new ScramServer(serverContext(users()), { hash: "SHA-256", nonce: NONCE });
      const client = new ScramClient(clientContext({ credentials: { username, password: "wrong horse" }, options: { scram: { cache: false, maxIterations: 1_000_000 } } }), { hash: "SHA-256", nonce: "clientnonce" });
      const exchange = pairedExchange(server);
      await runExchange(client, exchange).catch(() => undefined);
      return { first: exchange.sent[0] as Uint8Array, final: exchange.sent[1] as Uint8Array };
    };
    const cases = { known: await clientFinal("alice"), unknown: await clientFinal("mallory") };
    const time = async (c: { first: Uint8Array; final: Uint8Array }) => {
      const server = new ScramServer(serverContext(users()), { hash: "SHA-256", nonce: NONCE });
      const t0 = performance.now();
      await server.start(c.first);
      const outcome = await server.step(c.final);
      const elapsed = performance.now() - t0;
      expect(outcome).toMatchObject({ type: "failure", message: "e=invalid-proof" });
      return elapsed;
    };
    const samples: Record<"known" | "unknown", number[]> = { known: [], unknown: [] };
    for (let i = 0; i < 400; i++) {
      // Interleaved, so machine load hits both alike.
      samples.known.push(await time(cases.known));
      samples.unknown.push(await time(cases.unknown));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const ratio = median(samples.unknown) / median(samples.known);
    // Real differences (a PBKDF2 for one side only, an early return) are factors of 10 to 1000;
    // the bound is loose so a busy CI machine does not make it flaky.
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});
