/** Shared adapter test doubles, plus this package's recorded transcripts. */
import { readFileSync } from "node:fs";
import type { MechanismProvider } from "@saslkit/core";
import { Pop3Error, type Pop3ConnectOptions } from "../src/index.js";
import { rejectionOf } from "@saslkit/test-kit";
import { loopbackOptions } from "../../../test/support/adapter-fakes.js";

export * from "../../../test/support/adapter-fakes.js";

export function transcript(name: string): string {
  return readFileSync(new URL(`./transcripts/${name}`, import.meta.url), "utf8");
}

/** Options for a cleartext loopback test server on `port` (see `loopbackOptions`). */
export const base = (port: number, mechanisms?: readonly MechanismProvider[]): Pop3ConnectOptions => loopbackOptions(port, mechanisms);

/** The `Pop3Error` `promise` rejects with (fails the test if it resolves or rejects with anything else). */
export const expectPop3Error = (promise: Promise<unknown>): Promise<Pop3Error> => rejectionOf(promise, Pop3Error);
