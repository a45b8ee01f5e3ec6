/**
 * The API reference builds from the contract comments (TypeDoc, `pnpm docs`), with a page for
 * every publishable package. Built into a temporary folder; docs/api/ is git-ignored.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
// @ts-expect-error plain JavaScript build script without declarations
import { publicPackages } from "../scripts/packages.mjs";

const out = mkdtempSync(join(tmpdir(), "saslkit-api-docs-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("typedoc builds the reference for every publishable package without errors", async () => {
  const result = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile("pnpm", ["exec", "typedoc", "--out", out, "--logLevel", "Error"], { timeout: 150_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
  expect(result.code, result.output).toBe(0);
  // One module page per package (typedoc names @saslkit/core "modules/_saslkit_core.html"), each
  // with at least one documented export.
  for (const p of publicPackages() as { name: string }[]) {
    const page = join(out, "modules", `${p.name.replace(/[@/]/g, "_")}.html`);
    expect(existsSync(page), `${p.name} has no page in the reference`).toBe(true);
    expect(readFileSync(page, "utf8"), `${p.name}: no exports documented`).toMatch(/tsd-member|tsd-index-link/);
  }
}, 160_000);
