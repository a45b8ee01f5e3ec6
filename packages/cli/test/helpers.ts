import { PassThrough } from "node:stream";
import type { CliIo } from "../src/io.js";

/** An in-memory CliIo: captured stdout/stderr, a fixed environment, a scripted prompt. */
export function memoryIo(options: { env?: Record<string, string>; prompt?: string; stdin?: string; stdinTty?: boolean; files?: Record<string, string> } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const prompts: string[] = [];
  const stdin = Object.assign(new PassThrough(), { isTTY: options.stdinTty ?? false });
  stdin.end(options.stdin ?? "");
  const io: CliIo = {
    stdout: { write: (t: string) => void out.push(t), isTTY: false },
    stderr: { write: (t: string) => void err.push(t), isTTY: false },
    stdin,
    env: options.env ?? {},
    promptSecret: async (p) => {
      prompts.push(p);
      if (options.prompt === undefined) throw new Error("no prompt expected");
      return options.prompt;
    },
    readFile: async (path) => {
      const content = options.files?.[path];
      if (content === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return Buffer.from(content);
    },
  };
  return { io, stdout: () => out.join(""), stderr: () => err.join(""), prompts };
}
