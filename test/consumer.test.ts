/**
 * The consumer test (scripts/consumer-test.mjs) as named tests: every publishable package packed,
 * linted (publint, arethetypeswrong), installed with npm outside the workspace, required, imported
 * and type-checked by a strict consumer; the installed `saslkit demo`; every README code block.
 * It packs `dist`, so it runs after the build (`npm test` builds first with `tsc -b`).
 *
 * The expected checks are derived from the workspace now (packages and README blocks), so a check
 * that never ran fails as "no result" instead of disappearing.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript build script without declarations
import { publicPackages } from "../scripts/packages.mjs";
// @ts-expect-error plain JavaScript build script without declarations
import { readmeBlocks } from "../scripts/readme-blocks.mjs";

interface Check { name: string; ok: boolean; detail: string }

const packages = (publicPackages() as { name: string }[]).map((p) => p.name);
const allBlocks = readmeBlocks() as { id: string; mode: string; lang: string }[];
const blocks = allBlocks.map((b) => b.id);
const runBlocks = allBlocks.filter((b) => b.mode === "run" && (b.lang === "ts" || b.lang === "js")).map((b) => b.id);
const dir = mkdtempSync(join(tmpdir(), "saslkit-consumer-report-"));
let results: Check[] = [];
let log = "";

beforeAll(async () => {
  const report = join(dir, "report.json");
  log = await new Promise<string>((resolve) => {
    execFile(process.execPath, ["scripts/consumer-test.mjs", "--json", report], { timeout: 170_000, maxBuffer: 64 * 1024 * 1024 }, (_error, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
  try {
    results = JSON.parse(readFileSync(report, "utf8")) as Check[];
  } catch {
    results = [];
  }
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectCheck(name: string): void {
  const check = results.find((r) => r.name === name);
  expect(check, `no result for "${name}"; consumer test output:\n${log.slice(-4000)}`).toBeDefined();
  expect(check!.ok, `${name}\n${check!.detail.slice(0, 6000)}`).toBe(true);
}

describe("published tarballs", () => {
  it.each(packages)("%s packs non-empty, workspace-free, with LICENSE and resolvable maps", (name) => expectCheck(`tarball ${name}`));
  it.each(packages)("%s passes publint --strict", (name) => expectCheck(`publint ${name}`));
  it.each(packages)("%s passes arethetypeswrong", (name) => expectCheck(`attw ${name}`));
});

describe("an npm project outside the workspace", () => {
  it("installs every tarball with npm", () => expectCheck("npm install of the tarballs in an empty project"));
  it("require()s every package from CommonJS (require(esm), no warning)", () => expectCheck("require() every package from CommonJS"));
  it("imports every package from an ES module", () => expectCheck("import every package from an ES module"));
  it("type-checks a strict consumer under moduleResolution nodenext (ESM and CJS files)", () => expectCheck("strict consumer type-check, nodenext"));
  it("type-checks a strict consumer under moduleResolution bundler", () => expectCheck("strict consumer type-check, bundler"));
  it("type-checks a strict consumer under moduleResolution node10 (top-level types field)", () => expectCheck("strict consumer type-check, node10"));
  it("runs the installed saslkit demo through npx", () => expectCheck("npx saslkit demo (installed bin)"));
  it("runs saslkit demo with no openssl binary on PATH", () => expectCheck("saslkit demo with no openssl on PATH"));
});

describe("a pnpm project outside the workspace (strict node_modules)", () => {
  it("installs every tarball with pnpm", () => expectCheck("pnpm install of the tarballs in an empty project"));
  it("imports every package", () => expectCheck("import every package from a pnpm project (strict node_modules)"));
  it.each(runBlocks)("README block %s also runs under pnpm", (id) => expectCheck(`readme-pnpm ${id}`));
});

describe("README code blocks", () => {
  it.each(blocks)("%s runs (or type-checks when marked as a fragment)", (id) => expectCheck(`readme ${id}`));
});
