/** Shared adapter test doubles, plus this package's recorded transcripts. */
import { readFileSync } from "node:fs";
import type { MechanismProvider } from "@saslkit/core";
import { expect } from "vitest";
import { Pop3Error, type Pop3ConnectOptions } from "../src/index.js";
import { PASSWORD, USER, fakePlain } from "../../../test/support/adapter-fakes.js";

export * from "../../../test/support/adapter-fakes.js";

export function transcript(name: string): string {
  return readFileSync(new URL(`./transcripts/${name}`, import.meta.url), "utf8");
}

/** Options for a cleartext loopback test server on `port`: the test user, `mechanisms` (fake PLAIN by default), 5 s timeouts. */
export const base = (port: number, mechanisms: readonly MechanismProvider[] = [fakePlain]): Pop3ConnectOptions => ({
  host: "127.0.0.1",
  port,
  tls: "none",
  auth: { username: USER, password: PASSWORD },
  mechanisms,
  timeouts: { connect: 5000, reply: 5000 },
});

/** The `Pop3Error` `promise` rejects with (fails the test if it resolves or rejects with anything else). */
export async function expectPop3Error(promise: Promise<unknown>): Promise<Pop3Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Pop3Error);
  return error as Pop3Error;
}
