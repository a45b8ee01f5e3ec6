/**
 * Every publishable package has the published shape (scripts/packages.mjs: exports with types,
 * import and default, engines, links, LICENSE, files, workspace:^), and the pending changesets
 * name only packages that exist. A new package fails here until `node scripts/packages.mjs --fix`.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error plain JavaScript build script without declarations
import { differences, publicPackages } from "../scripts/packages.mjs";

const packages = publicPackages() as { name: string }[];

describe("published package shape", () => {
  it.each(packages.map((p) => [p.name, p] as const))("%s has the published shape", (_name, pkg) => {
    expect(differences(pkg)).toEqual([]);
  });

  it("pending changesets name only existing, publishable packages", () => {
    const names = new Set(packages.map((p) => p.name));
    for (const file of readdirSync(".changeset").filter((f) => f.endsWith(".md") && f !== "README.md")) {
      const front = /^---\n([\s\S]*?)\n---/.exec(readFileSync(`.changeset/${file}`, "utf8"))?.[1] ?? "";
      for (const line of front.split("\n").filter((l) => l.trim())) {
        const name = /^"([^"]+)":\s*(patch|minor|major)$/.exec(line.trim())?.[1];
        expect(name, `${file}: ${line}`).toBeDefined();
        expect(names.has(name!), `${file} names ${name}, which is not a publishable package`).toBe(true);
      }
    }
  });

  it("npm publish is refused before packing (it would ship workspace: ranges); pnpm is the publisher", () => {
    const dir = (packages[0] as unknown as { dir: string }).dir;
    const env = { ...process.env, npm_config_user_agent: "" };
    const npm = spawnSync("npm", ["publish", "--dry-run"], { cwd: dir, env, encoding: "utf8", timeout: 60_000 });
    expect(npm.status).not.toBe(0);
    expect(npm.stderr).toContain("publish with pnpm");
    const guard = spawnSync(process.execPath, ["scripts/publish-guard.mjs"], { env: { ...process.env, npm_config_user_agent: "pnpm/10.34.9 npm/? node/v20.20.2 linux x64" }, encoding: "utf8" });
    expect(guard.status).toBe(0);
  });
});
