/** Shared adapter test doubles, plus this package's recorded transcripts. */
import { readFileSync } from "node:fs";

export * from "../../../test/support/adapter-fakes.js";

export function transcript(name: string): string {
  return readFileSync(new URL(`./transcripts/${name}`, import.meta.url), "utf8");
}
