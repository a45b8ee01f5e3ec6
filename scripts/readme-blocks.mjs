/**
 * The code blocks of every README a user reads: the root README.md and the README.md of every
 * publishable package. Each block is run in the consumer project (scripts/consumer-test.mjs), or
 * type-checked when it says it is a fragment.
 *
 * A block is marked by an HTML comment on the line just above its fence (invisible on GitHub and
 * npm):
 *
 *   <!-- readme-test: fragment -->        ts/js: type-checked, not run; sh: syntax-checked (bash -n)
 *   <!-- readme-test: fragment given: declare const exchange: import("@saslkit/core").SaslExchange; -->
 *                                         the same, with the names the fragment assumes declared
 *                                         (put in front of its first line, so line numbers hold)
 *   <!-- readme-test: skip REASON -->     neither; the reason is mandatory and shown in the report
 *
 * Unmarked blocks run:
 *   ts/typescript  type-checked (strict) and run with node after transpiling;
 *   js/javascript  run with node as an ES module;
 *   sh/bash/shell  run with bash, `set -e`, in the consumer project (its node_modules/.bin on PATH).
 * Every other language (json, text, ...) is documentation and is left alone.
 *
 * Blocks that talk to a mail server run against the embedded @saslkit/smtp-server: connections
 * to *.example.org, *.example.com and *.example.net on the SMTP ports are sent to it on 127.0.0.1
 * (see consumer-test.mjs), and its certificate is trusted through NODE_EXTRA_CA_CERTS.
 */
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { publicPackages, root } from "./packages.mjs";

const RUN_LANGS = { ts: "ts", typescript: "ts", js: "js", javascript: "js", mjs: "js", sh: "sh", bash: "sh", shell: "sh" };

/** README files in reading order: the root, then each publishable package. */
export function readmeFiles() {
  return [join(root, "README.md"), ...publicPackages().map((p) => join(p.dir, "README.md"))];
}

/**
 * Every checked block: `{ id, file, line, lang, mode, code, reason? }` with mode "run", "typecheck",
 * "syntax" or "skip". `id` is stable while the README keeps its blocks in order
 * ("packages/smtp/README.md#2").
 */
export function readmeBlocks(files = readmeFiles()) {
  const blocks = [];
  for (const file of files) {
    let text;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const lines = text.split("\n");
    let index = 0;
    for (let i = 0; i < lines.length; i++) {
      const open = /^(\s*)(`{3,})\s*([\w-]*)/.exec(lines[i]);
      if (!open) continue;
      const fence = open[2];
      const lang = RUN_LANGS[open[3].toLowerCase()];
      let end = i + 1;
      while (end < lines.length && !lines[end].trimStart().startsWith(fence)) end++;
      const code = lines.slice(i + 1, end).map((l) => l.slice(open[1].length)).join("\n");
      const marker = /<!--\s*readme-test:\s*(fragment|skip)\b\s*(.*?)\s*-->/.exec(lines.slice(Math.max(0, i - 2), i).join("\n"));
      const startLine = i + 1;
      i = end;
      if (!lang) continue;
      index++;
      let mode = "run";
      let reason;
      let given;
      if (marker?.[1] === "fragment") {
        mode = lang === "sh" ? "syntax" : "typecheck";
        const g = /^given:\s*(.*)$/s.exec(marker[2] ?? "");
        if (g) given = g[1];
      }
      if (marker?.[1] === "skip") {
        mode = "skip";
        reason = marker[2] || "(no reason given)";
      }
      if (lang === "js" && mode === "typecheck") mode = "syntax";
      blocks.push({ id: `${relative(root, file)}#${index}`, file: relative(root, file), line: startLine, lang, mode, code, ...(reason ? { reason } : {}), ...(given ? { given } : {}) });
    }
  }
  return blocks;
}

/** npm install / pnpm add / yarn add lines, as the README runner recognises them. */
export const INSTALL_LINE = /^\s*(npm\s+(i|install|add)|pnpm\s+(add|i|install)|yarn\s+add)\b(.*)$/;

/**
 * Packages other than @saslkit/* that the READMEs tell the user to install (`tsyringe` for the
 * container examples). The pnpm project of the consumer test installs exactly these besides the
 * tarballs, so an example importing a package no install line names fails there.
 */
export function thirdPartyInstalls(blocks = readmeBlocks()) {
  const names = new Set();
  for (const b of blocks.filter((x) => x.lang === "sh")) {
    for (const line of b.code.split("\n")) {
      const m = INSTALL_LINE.exec(line);
      if (!m) continue;
      for (const word of m[4].replace(/#.*$/, "").split(/\s+/)) {
        if (!word || word.startsWith("-") || word.startsWith("@saslkit/")) continue;
        names.add(word.replace(/(?<=.)@[^@/]*$/, ""));
      }
    }
  }
  return [...names].sort();
}
