/**
 * Every publishable package has the published shape (scripts/packages.mjs: exports with types,
 * import and default, engines, links, LICENSE, files, workspace:^), and the pending changesets
 * name only packages that exist. A new package fails here until `node scripts/packages.mjs --fix`.
 */
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
});
