#!/usr/bin/env node
/**
 * The published packages and the shape every one of them must have, in one place.
 *
 *   node scripts/packages.mjs           lists the publishable packages (one directory a line)
 *   node scripts/packages.mjs --check   exits 1 naming every field that differs from the shape
 *   node scripts/packages.mjs --fix     rewrites the fields below in every publishable package.json
 *                                       and writes a missing LICENSE
 *
 * Packages are found, never listed: every packages/* whose package.json is not `"private": true`.
 * `--fix` touches only metadata (exports, files, engines, links, license); dependencies stay as
 * their owners wrote them, except that internal ranges become `workspace:^`, which `pnpm publish`
 * rewrites to `^<version>` so a consumer may take compatible releases of the other packages.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const REPOSITORY = "https://github.com/saslkit/saslkit";
export const NODE_RANGE = ">=20.19";

/** Every packages/* with a package.json that is not private: `{ dir, name, manifest }`. */
export function publicPackages() {
  const base = join(root, "packages");
  return readdirSync(base, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(base, d.name, "package.json")))
    .map((d) => ({ dir: join(base, d.name), folder: d.name, manifest: JSON.parse(readFileSync(join(base, d.name, "package.json"), "utf8")) }))
    .filter((p) => p.manifest.private !== true)
    .map((p) => ({ ...p, name: p.manifest.name }));
}

export const LICENSE = `MIT License

Copyright (c) 2026 the saslkit authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

/**
 * The fields every publishable package carries. `exports` has "." only:
 * - `@saslkit/source` (first) sends the workspace's vitest to the TypeScript sources;
 * - `types` for TypeScript (nodenext and bundler);
 * - `import` and `default` both name the ES module: `default` is what `require()` matches, and
 *   Node >= 20.19 (22.12 on 22.x) loads an ES module from `require()` without a flag (require(esm)),
 *   so one build serves both module systems.
 * `main`/`types` at the top level serve tools that predate `exports`.
 * `files` ships `src` beside `dist`: the declaration and source maps point into it, so "go to
 * definition" lands on the real source; the build-info file (paths of the build machine) stays out.
 */
export function canonical(pkg) {
  const m = pkg.manifest;
  const internal = (deps) => {
    if (!deps) return deps;
    const out = {};
    for (const [k, v] of Object.entries(deps)) out[k] = typeof v === "string" && v.startsWith("workspace:") ? "workspace:^" : v;
    return out;
  };
  return {
    keywords: m.keywords?.length ? m.keywords : keywordsFor(pkg.folder),
    license: "MIT",
    homepage: `${REPOSITORY}/tree/main/packages/${pkg.folder}#readme`,
    bugs: { url: `${REPOSITORY}/issues` },
    repository: { type: "git", url: `git+${REPOSITORY}.git`, directory: `packages/${pkg.folder}` },
    type: "module",
    sideEffects: false,
    engines: { node: NODE_RANGE },
    main: "./dist/index.js",
    types: "./dist/index.d.ts",
    exports: {
      ".": {
        "@saslkit/source": "./src/index.ts",
        types: "./dist/index.d.ts",
        import: "./dist/index.js",
        default: "./dist/index.js",
      },
    },
    files: ["dist", "!dist/.tsbuildinfo", "!dist/**/*.tsbuildinfo", "src"],
    scripts: { ...m.scripts, prepublishOnly: "node ../../scripts/publish-guard.mjs" },
    publishConfig: { access: "public" },
    ...(m.dependencies ? { dependencies: internal(m.dependencies) } : {}),
    ...(m.peerDependencies ? { peerDependencies: internal(m.peerDependencies) } : {}),
    ...(m.optionalDependencies ? { optionalDependencies: internal(m.optionalDependencies) } : {}),
  };
}

function keywordsFor(folder) {
  const k = ["sasl", "authentication", "email"];
  if (folder.startsWith("mech-")) k.push("sasl-mechanism", folder.slice(5));
  else if (["smtp", "imap", "pop3"].includes(folder)) k.push(folder, "mail-client");
  else if (folder === "smtp-server") k.push("smtp", "smtp-server");
  else if (folder === "cli") k.push("cli", "smtp", "imap", "pop3");
  else k.push(folder);
  return k;
}

/**
 * Field order for fields the shape adds. Fields already present keep their place (so the edit of
 * a helper adding a dependency merges cleanly); a new field goes after the nearest field that
 * precedes it in this order.
 */
const ORDER = ["name", "version", "description", "keywords", "license", "homepage", "bugs", "repository", "type", "sideEffects", "engines", "main", "types", "exports", "files", "scripts", "publishConfig"];

function merged(manifest, fields) {
  const keys = Object.keys(manifest);
  for (const key of ORDER) {
    if (!(key in fields) || keys.includes(key)) continue;
    const before = ORDER.slice(0, ORDER.indexOf(key)).reverse().find((k) => keys.includes(k));
    keys.splice(before === undefined ? 0 : keys.indexOf(before) + 1, 0, key);
  }
  for (const key of Object.keys(fields)) if (!keys.includes(key)) keys.push(key);
  const all = { ...manifest, ...fields };
  return Object.fromEntries(keys.map((k) => [k, all[k]]));
}

/** The differences between a package and the shape, as "field: found -> wanted" lines. */
export function differences(pkg) {
  const want = canonical(pkg);
  const out = [];
  for (const [key, value] of Object.entries(want)) {
    if (key === "keywords") {
      if (!Array.isArray(pkg.manifest.keywords) || pkg.manifest.keywords.length === 0) out.push(`${pkg.name}: keywords missing`);
      continue;
    }
    if (JSON.stringify(pkg.manifest[key]) !== JSON.stringify(value)) out.push(`${pkg.name}: ${key} is ${JSON.stringify(pkg.manifest[key])}, want ${JSON.stringify(value)}`);
  }
  if (!existsSync(join(pkg.dir, "LICENSE"))) out.push(`${pkg.name}: LICENSE file missing`);
  if (!existsSync(join(pkg.dir, "README.md"))) out.push(`${pkg.name}: README.md missing`);
  if (typeof pkg.manifest.description !== "string" || !pkg.manifest.description) out.push(`${pkg.name}: description missing`);
  return out;
}

function fix(pkg) {
  const manifest = merged(pkg.manifest, canonical(pkg));
  writeFileSync(join(pkg.dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  const license = join(pkg.dir, "LICENSE");
  if (!existsSync(license)) writeFileSync(license, LICENSE);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2];
  const packages = publicPackages();
  if (mode === "--fix") {
    for (const p of packages) fix(p);
    console.log(`fixed ${packages.length} packages`);
  } else if (mode === "--check") {
    const problems = packages.flatMap(differences);
    for (const p of problems) console.error(p);
    if (problems.length) {
      console.error(`${problems.length} problem(s); run: node scripts/packages.mjs --fix`);
      process.exit(1);
    }
    console.log(`${packages.length} packages have the published shape`);
  } else {
    for (const p of packages) console.log(p.dir);
  }
}
