#!/usr/bin/env node
/**
 * The consumer test: what a user gets from `npm install`, checked outside the workspace.
 *
 *   node scripts/consumer-test.mjs [--build] [--json FILE] [--keep]
 *
 * 1. packs every publishable package with `pnpm pack` (which rewrites `workspace:` ranges) and
 *    checks each tarball: not empty, no `workspace:` range, no build-info file, a LICENSE, and every
 *    source map pointing only at files inside the tarball;
 * 2. runs publint and arethetypeswrong on each tarball;
 * 3. installs all tarballs with npm into an empty project in the system temp directory;
 * 4. there: `require()`s and `import`s every package, type-checks a strict consumer
 *    (strict + exactOptionalPropertyTypes, no skipLibCheck) under moduleResolution nodenext
 *    (ESM and CommonJS files) and bundler, runs the installed `saslkit demo` (also with a PATH
 *    that has no openssl), and runs every README code block (see readme-blocks.mjs).
 *
 * Prints one line per check and "N passed, N failed"; exits 1 when a check failed. `--json`
 * writes the results ({ name, ok, detail }[]) for the vitest wrapper (test/consumer.test.ts).
 */
import { execFile as execFileCb, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { publicPackages, root } from "./packages.mjs";
import { INSTALL_LINE, readmeBlocks, thirdPartyInstalls } from "./readme-blocks.mjs";

const execFile = promisify(execFileCb);
const results = [];
const t0 = Date.now();
const record = (name, ok, detail = "") => {
  results.push({ name, ok, detail: String(detail).trim(), at: Date.now() - t0 });
  process.stderr.write(`${ok ? "ok  " : "FAIL"} ${name}${ok || !detail ? "" : `\n${String(detail).trim().replace(/^/gm, "     ")}`}\n`);
};

/** Runs a command; resolves { code, stdout, stderr } and never rejects (timeouts give code null). */
function run(cmd, args, options = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeout} ms]`;
      child.kill("SIGKILL");
    }, options.timeout ?? 60_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolvePromise({ code: -1, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Runs `tasks` (functions returning promises) with at most `limit` at once. */
async function pool(tasks, limit) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) await tasks[next++]();
  }));
}

async function packAll(packages, dest) {
  const tarballs = new Map();
  await pool(packages.map((p) => async () => {
    const r = await run("pnpm", ["pack", "--pack-destination", dest], { cwd: p.dir, timeout: 60_000 });
    const file = r.stdout.trim().split("\n").filter((l) => l.endsWith(".tgz")).at(-1);
    if (r.code !== 0 || !file) return record(`pack ${p.name}`, false, r.stderr || r.stdout);
    tarballs.set(p.name, resolve(dest, file.trim()));
  }), 3);
  return tarballs;
}

/** Unpacks `tarball` and checks what a registry would receive. */
async function checkTarball(name, tarball, unpackRoot) {
  const dir = join(unpackRoot, basename(tarball, ".tgz"));
  mkdirSync(dir, { recursive: true });
  await execFile("tar", ["xzf", tarball, "-C", dir]);
  const pkgDir = join(dir, "package");
  const files = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else files.push(relative(pkgDir, join(d, e.name)));
    }
  };
  walk(pkgDir);
  const problems = [];
  const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  if (!files.includes("dist/index.js") || !files.includes("dist/index.d.ts")) problems.push("no dist/index.js or dist/index.d.ts (was it built?)");
  if (!files.includes("LICENSE")) problems.push("no LICENSE");
  if (!files.includes("README.md")) problems.push("no README.md");
  for (const f of files.filter((f) => f.includes("tsbuildinfo"))) problems.push(`ships ${f}`);
  for (const field of ["dependencies", "peerDependencies", "optionalDependencies", "devDependencies"]) {
    for (const [dep, range] of Object.entries(manifest[field] ?? {})) if (String(range).startsWith("workspace:")) problems.push(`${field}.${dep} is still "${range}"`);
  }
  if (JSON.stringify(manifest).includes("workspace:")) problems.push('"workspace:" left in package.json');
  for (const map of files.filter((f) => f.endsWith(".map"))) {
    const { sources = [] } = JSON.parse(readFileSync(join(pkgDir, map), "utf8"));
    for (const s of sources) {
      const target = relative(pkgDir, resolve(pkgDir, dirname(map), s));
      if (target.startsWith("..") || !files.includes(target)) problems.push(`${map} points at ${s}, which is not in the tarball`);
    }
  }
  record(`tarball ${name}`, problems.length === 0, problems.length ? problems.slice(0, 10).join("\n") : `${files.length} files`);
}

async function lintTarballs(tarballs) {
  const bin = (n) => join(root, "node_modules", ".bin", n);
  await pool([...tarballs].flatMap(([name, tgz]) => [
    async () => {
      const r = await run(bin("publint"), ["run", "--strict", "--pack", "false", tgz], { timeout: 60_000 });
      record(`publint ${name}`, r.code === 0, r.stdout + r.stderr);
    },
    async () => {
      // cjs-resolves-to-esm: attw's TypeScript (5.6) predates require(esm); Node >= 20.19 and
      // TypeScript >= 5.8 (module nodenext) load these ES modules from require(), which the
      // require and CommonJS type checks below prove on the installed packages.
      const r = await run(bin("attw"), [tgz, "--format", "ascii", "--no-emoji", "--no-color", "--ignore-rules", "cjs-resolves-to-esm"], { timeout: 90_000 });
      record(`attw ${name}`, r.code === 0, r.stdout + r.stderr);
    },
  ]), 2);
}

function rootDevVersion(name) {
  return JSON.parse(readFileSync(join(root, "package.json"), "utf8")).devDependencies[name];
}

async function install(project, tarballs) {
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "saslkit-consumer", version: "1.0.0", private: true }, null, 2)}\n`);
  const args = ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", "--no-package-lock",
    ...tarballs.values(), `typescript@${rootDevVersion("typescript")}`, `@types/node@${rootDevVersion("@types/node")}`];
  const r = await run("npm", args, { cwd: project, timeout: 240_000 });
  record("npm install of the tarballs in an empty project", r.code === 0, r.stderr);
  return r.code === 0;
}

async function loadEveryPackage(project, names) {
  writeFileSync(join(project, "require-all.cjs"), names.map((n) => `{ const m = require(${JSON.stringify(n)}); if (Object.keys(m).length === 0) throw new Error(${JSON.stringify(`${n}: require() gave no exports`)}); }`).join("\n"));
  writeFileSync(join(project, "import-all.mjs"), names.map((n, i) => `import * as m${i} from ${JSON.stringify(n)}; if (Object.keys(m${i}).length === 0) throw new Error(${JSON.stringify(`${n}: import gave no exports`)});`).join("\n"));
  const r1 = await run(process.execPath, ["require-all.cjs"], { cwd: project, timeout: 30_000 });
  record("require() every package from CommonJS", r1.code === 0 && !/Warning/.test(r1.stderr), r1.stderr);
  const r2 = await run(process.execPath, ["import-all.mjs"], { cwd: project, timeout: 30_000 });
  record("import every package from an ES module", r2.code === 0, r2.stderr);
}

async function typeCheck(project, names) {
  const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
  const strict = { strict: true, exactOptionalPropertyTypes: true, skipLibCheck: false, noEmit: true, target: "ES2022", lib: ["ES2022"], types: ["node"], noUncheckedIndexedAccess: true };
  mkdirSync(join(project, "types"), { recursive: true });
  const esm = names.map((n, i) => `import * as m${i} from ${JSON.stringify(n)};\nexport const e${i}: object = m${i};`).join("\n");
  const cjs = names.map((n, i) => `import m${i} = require(${JSON.stringify(n)});\nexport const e${i}: object = m${i};`).join("\n");
  writeFileSync(join(project, "types", "consumer.mts"), esm);
  writeFileSync(join(project, "types", "consumer-cjs.cts"), cjs);
  writeFileSync(join(project, "types", "consumer-bundler.ts"), esm);
  writeFileSync(join(project, "types", "consumer-node10.ts"), esm);
  const configs = {
    "tsconfig.nodenext.json": { compilerOptions: { ...strict, module: "NodeNext", moduleResolution: "NodeNext" }, files: ["types/consumer.mts", "types/consumer-cjs.cts"] },
    "tsconfig.bundler.json": { compilerOptions: { ...strict, module: "ESNext", moduleResolution: "Bundler" }, files: ["types/consumer-bundler.ts"] },
    // Tools that predate "exports" read the top-level "types" field.
    // (with esModuleInterop, as "tsc --init" writes it: the declarations default-import node:net and node:tls)
    "tsconfig.node10.json": { compilerOptions: { ...strict, module: "ESNext", moduleResolution: "Node10", esModuleInterop: true }, files: ["types/consumer-node10.ts"] },
  };
  for (const [file, config] of Object.entries(configs)) {
    writeFileSync(join(project, file), JSON.stringify(config, null, 2));
    const r = await run(process.execPath, [tsc, "-p", file], { cwd: project, timeout: 120_000 });
    record(`strict consumer type-check, ${file.split(".")[1]}`, r.code === 0, r.stdout + r.stderr);
  }
}

/** A PATH with node (and npm, npx) but no openssl: a directory of symlinks. */
function pathWithoutOpenssl(base) {
  const dir = join(base, "node-only-bin");
  mkdirSync(dir, { recursive: true });
  for (const tool of ["node", "npm", "npx"]) {
    const found = process.env.PATH.split(":").map((p) => join(p, tool)).find((p) => existsSync(p));
    if (found && !existsSync(join(dir, tool))) symlinkSync(found, join(dir, tool));
  }
  return dir;
}

async function demo(project, base) {
  const r = await run("npx", ["--no-install", "saslkit", "demo", "--quiet"], { cwd: project, timeout: 60_000 });
  record("npx saslkit demo (installed bin)", r.code === 0 && /^Done: /m.test(r.stdout), `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  const env = { ...process.env, PATH: pathWithoutOpenssl(base) };
  const r2 = await run(join(project, "node_modules", ".bin", "saslkit"), ["demo", "--quiet"], { cwd: project, env, timeout: 60_000 });
  record("saslkit demo with no openssl on PATH", r2.code === 0 && /^Done: /m.test(r2.stdout), `exit ${r2.code}\n${r2.stdout}\n${r2.stderr}`);
}

// ---- README blocks -------------------------------------------------------------------------

const SERVER = `
import { readdirSync, readFileSync } from "node:fs";
import { SmtpServer } from "@saslkit/smtp-server";
import * as scram from "@saslkit/mech-scram";
// Every installed mechanism package's server halves, found like the CLI finds them.
const providers = new Map();
for (const dir of readdirSync("node_modules/@saslkit").filter((d) => d.startsWith("mech-"))) {
  const mod = await import("@saslkit/" + dir);
  for (const value of Object.values(mod)) {
    for (const p of Array.isArray(value) ? value : [value]) {
      if (p && typeof p === "object" && typeof p.name === "string" && typeof p.createServer === "function" && !providers.has(p.name)) providers.set(p.name, p);
    }
  }
}
const password = process.env.README_PASSWORD;
const prepared = scram.prepareScramPassword(password);
const keys = new Map();
for (const hash of ["SHA-1", "SHA-256", "SHA-512"]) keys.set(hash, await scram.deriveScramKeys(hash, prepared));
const tls = { key: readFileSync("certs/server.key"), cert: readFileSync("certs/server.pem") };
const options = {
  mechanisms: [...providers.values()].sort((a, b) => b.priority - a.priority),
  callbacks: {
    verifyPassword: (_u, p) => p === password,
    lookupPassword: () => password,
    lookupScramKeys: (_u, hash) => keys.get(hash),
    verifyToken: () => ({ valid: false, status: "invalid_token" }),
    acceptAnonymous: () => false,
  },
  // The example deployment's realm, as a server for example.org would offer it. This one server
  // stands in for every example domain a README connects to, so DIGEST-MD5 takes any digest-uri host.
  mechanismOptions: { digestMd5: { realms: ["example.org"], hosts: "any" } },
  tls,
  requireAuth: true,
};
const starttls = await SmtpServer.start(options);
const implicit = await SmtpServer.start({ ...options, implicitTls: true });
process.stdout.write(JSON.stringify({ starttls: starttls.port, implicit: implicit.port, mechanisms: [...providers.keys()] }) + "\\n");
process.on("SIGTERM", async () => { await Promise.all([starttls.close(), implicit.close()]); process.exit(0); });
`;

/** Preloaded into every README block: connections to example domains go to the embedded server. */
const REDIRECT = `
import net from "node:net";
import { syncBuiltinESMExports } from "node:module";
const ports = JSON.parse(process.env.README_SERVER_PORTS);
const example = /(^|\\.)example\\.(org|com|net)$/i;
const original = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  // net.connect() passes its normalised [options, callback] array as the one argument.
  const holder = Array.isArray(args[0]) ? args[0] : args;
  const options = holder[0];
  if (options && typeof options === "object" && typeof options.host === "string" && example.test(options.host)) {
    const port = Number(options.port);
    const target = port === 465 ? ports.implicit : [25, 587, 2525].includes(port) ? ports.starttls : undefined;
    if (target === undefined) throw new Error(\`README test: no embedded server for \${options.host}:\${port} (only SMTP is served)\`);
    holder[0] = { ...options, host: "127.0.0.1", port: target };
  }
  return original.apply(this, args);
};
syncBuiltinESMExports();
`;

/**
 * The README server's certificate, for the example domains, made with node:crypto by the CLI's
 * demo certificate writer (no openssl binary needed).
 */
async function makeCertificates(dir) {
  mkdirSync(dir, { recursive: true });
  const { demoCertificate } = await import(pathToFileURL(join(root, "packages", "cli", "dist", "commands", "demo-certificate.js")).href);
  const names = ["localhost", "example.org", "*.example.org", "example.com", "*.example.com", "example.net", "*.example.net"];
  const { ca, key, cert } = demoCertificate(names);
  writeFileSync(join(dir, "ca.pem"), ca);
  writeFileSync(join(dir, "server.key"), key);
  writeFileSync(join(dir, "server.pem"), cert);
}

async function startReadmeServer(project) {
  writeFileSync(join(project, "readme-server.mjs"), SERVER);
  const password = `readme-${Math.random().toString(36).slice(2)}-Pw1`;
  const child = spawn(process.execPath, ["readme-server.mjs"], { cwd: project, env: { ...process.env, README_PASSWORD: password }, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const ports = await new Promise((resolvePromise, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolvePromise(JSON.parse(out.split("\n")[0]));
    });
    child.on("exit", (code) => reject(new Error(`the README server exited (${code}): ${err}`)));
    setTimeout(() => reject(new Error(`the README server did not start: ${err}`)), 30_000);
  });
  return { ports, password, stop: () => child.kill("SIGTERM") };
}

/**
 * The same block in a pnpm project: pnpm's strict node_modules lets code import only what the
 * project declares, so a README example that imports a package its install line does not name
 * (tsyringe, reflect-metadata) fails here and not under npm's hoisting.
 */
async function runUnderPnpm(pnpmProject, block, file, js, env) {
  const dir = join(pnpmProject, "readme");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), `${js}\nexport {};\n`);
  const r = await run(process.execPath, [file], { cwd: dir, env: { ...env, PATH: `${join(pnpmProject, "node_modules", ".bin")}:${env.PATH}` }, timeout: 30_000 });
  record(`readme-pnpm ${block.id}`, r.code === 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
}

/** A pnpm project with the tarballs: each @saslkit range is pinned to its tarball by an override. */
async function installWithPnpm(project, tarballs) {
  mkdirSync(project, { recursive: true });
  const deps = Object.fromEntries([...tarballs].map(([name, tgz]) => [name, `file:${tgz}`]));
  // What the READMEs' install lines add, at the range our packages depend on (else any version).
  const ranges = Object.assign({}, ...publicPackages().map((p) => p.manifest.dependencies ?? {}));
  const extra = Object.fromEntries(thirdPartyInstalls().map((n) => [n, ranges[n] ?? "*"]));
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ name: "saslkit-consumer-pnpm", version: "1.0.0", private: true, type: "module", dependencies: { ...deps, ...extra }, pnpm: { overrides: deps } }, null, 2)}\n`);
  const r = await run("pnpm", ["install", "--prefer-offline", "--reporter=silent", "--config.node-linker=isolated"], { cwd: project, timeout: 240_000 });
  record("pnpm install of the tarballs in an empty project", r.code === 0, r.stderr + r.stdout);
  if (r.code !== 0) return false;
  writeFileSync(join(project, "import-all.mjs"), [...tarballs.keys()].map((n, i) => `import * as m${i} from ${JSON.stringify(n)}; if (Object.keys(m${i}).length === 0) throw new Error(${JSON.stringify(`${n}: import gave no exports`)});`).join("\n"));
  const i = await run(process.execPath, ["import-all.mjs"], { cwd: project, timeout: 30_000 });
  record("import every package from a pnpm project (strict node_modules)", i.code === 0, i.stderr);
  return i.code === 0;
}


async function readmes(project, packageNames, pnpmProject) {
  const blocks = readmeBlocks();
  const dir = join(project, "readme");
  mkdirSync(dir, { recursive: true });
  let server;
  try {
    await makeCertificates(join(project, "certs"));
    server = await startReadmeServer(project);
  } catch (error) {
    for (const b of blocks) record(`readme ${b.id}`, false, `no embedded server: ${error.message}`);
    return;
  }
  writeFileSync(join(project, "redirect.mjs"), REDIRECT);
  const env = {
    ...process.env,
    PATH: `${join(project, "node_modules", ".bin")}:${process.env.PATH}`,
    NODE_OPTIONS: `--import=${pathToFileURL(join(project, "redirect.mjs")).href}`,
    NODE_EXTRA_CA_CERTS: join(project, "certs", "ca.pem"),
    README_SERVER_PORTS: JSON.stringify(server.ports),
    SMTP_PASSWORD: server.password,
    SASLKIT_PASSWORD: server.password,
    PASSWORD: server.password,
    SMTP_USER: "alice",
  };
  try {
    // Type-check every ts block in one compiler run (strict, nodenext); attribute errors per file.
    const tsBlocks = blocks.filter((b) => b.lang === "ts" && b.mode !== "skip");
    const fileOf = (b) => `block-${b.id.replace(/[^\w]+/g, "-")}.mts`;
    for (const b of tsBlocks) writeFileSync(join(dir, fileOf(b)), `${b.given ? `${b.given} ` : ""}${b.code}\nexport {};\n`);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", lib: ["ES2022"], types: ["node"], skipLibCheck: false }, include: ["*.mts"] }));
    const tsc = join(project, "node_modules", "typescript", "bin", "tsc");
    const checked = tsBlocks.length ? await run(process.execPath, [tsc, "-p", "tsconfig.json", "--pretty", "false"], { cwd: dir, timeout: 120_000 }) : { stdout: "" };
    const typeErrors = (b) => checked.stdout.split("\n").filter((l) => l.startsWith(fileOf(b))).map((l) => l.replace(fileOf(b), `${b.file}:${b.line}+`)).join("\n");
    const { default: ts } = await import(pathToFileURL(join(project, "node_modules", "typescript", "lib", "typescript.js")).href);

    for (const b of blocks) {
      const name = `readme ${b.id}`;
      if (b.mode === "skip") {
        record(name, true, `skipped: ${b.reason}`);
        continue;
      }
      if (b.lang === "ts") {
        const errors = typeErrors(b);
        if (errors || b.mode === "typecheck") {
          record(name, !errors, errors);
          if (errors && b.mode === "run" && pnpmProject) record(`readme-pnpm ${b.id}`, false, "not run: the block does not type-check (see its npm result)");
          continue;
        }
        const js = ts.transpileModule(b.code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, experimentalDecorators: true } }).outputText;
        writeFileSync(join(dir, fileOf(b).replace(/\.mts$/, ".mjs")), `${js}\nexport {};\n`);
        const r = await run(process.execPath, [fileOf(b).replace(/\.mts$/, ".mjs")], { cwd: dir, env, timeout: 30_000 });
        record(name, r.code === 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        if (pnpmProject) await runUnderPnpm(pnpmProject, b, fileOf(b).replace(/\.mts$/, ".mjs"), js, env);
      } else if (b.lang === "js") {
        const file = `block-${b.id.replace(/[^\w]+/g, "-")}.mjs`;
        writeFileSync(join(dir, file), `${b.code}\nexport {};\n`);
        const r = b.mode === "syntax" ? await run(process.execPath, ["--check", file], { cwd: dir }) : await run(process.execPath, [file], { cwd: dir, env, timeout: 30_000 });
        record(name, r.code === 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        if (pnpmProject && b.mode === "run") await runUnderPnpm(pnpmProject, b, file, b.code, env);
      } else {
        // Install lines cannot fetch unpublished packages: check that they name packages that exist
        // (they are installed from the tarballs already) and run the rest of the block.
        const unknown = [];
        const script = b.code.split("\n").map((line) => {
          const m = INSTALL_LINE.exec(line);
          if (!m) return line;
          for (const word of m[4].replace(/#.*$/, "").split(/\s+/)) if (word.startsWith("@saslkit/") && !packageNames.includes(word.replace(/@[^@/]*$/, ""))) unknown.push(word);
          return ": install line checked";
        }).join("\n");
        if (unknown.length) {
          record(name, false, `installs packages that do not exist: ${unknown.join(" ")}`);
          continue;
        }
        const r = b.mode === "syntax" ? await run("bash", ["-n"], { cwd: project, input: script }) : await run("bash", ["-e", "-o", "pipefail"], { cwd: project, env, input: script, timeout: 60_000 });
        record(name, r.code === 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      }
    }
  } finally {
    server.stop();
  }
}

// ---- main ------------------------------------------------------------------------------------

export async function consumerTest({ build = false, keep = false } = {}) {
  const started = Date.now();
  if (build) {
    const r = await run("pnpm", ["-r", "--reporter=silent", "build"], { cwd: root, timeout: 300_000 });
    record("pnpm -r build", r.code === 0, r.stderr + r.stdout);
  }
  const base = mkdtempSync(join(tmpdir(), "saslkit-consumer-"));
  try {
    const packages = publicPackages();
    const names = packages.map((p) => p.name);
    const tarballs = await packAll(packages, join(base, "tarballs"));
    mkdirSync(join(base, "unpacked"), { recursive: true });
    for (const [name, tgz] of tarballs) await checkTarball(name, tgz, join(base, "unpacked"));
    const project = join(base, "project");
    const lint = lintTarballs(tarballs);
    const pnpmProject = join(base, "pnpm-project");
    const pnpmReady = installWithPnpm(pnpmProject, tarballs);
    if (await install(project, tarballs)) {
      await loadEveryPackage(project, names);
      await typeCheck(project, names);
      await demo(project, base);
      await readmes(project, names, (await pnpmReady) ? pnpmProject : undefined);
    }
    await pnpmReady;
    await lint;
  } finally {
    if (!keep) rmSync(base, { recursive: true, force: true });
    else process.stderr.write(`kept ${base}\n`);
  }
  const failed = results.filter((r) => !r.ok).length;
  process.stderr.write(`consumer test took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  return { results, failed };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const jsonAt = argv.indexOf("--json");
  const { results: all, failed } = await consumerTest({ build: argv.includes("--build"), keep: argv.includes("--keep") });
  if (jsonAt >= 0) writeFileSync(argv[jsonAt + 1], JSON.stringify(all, null, 2));
  console.log(`${all.length - failed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}
