/**
 * GNU gsasl's stdio mode as a line-based peer for interop tests (/work/shared/servers.md, "GNU
 * gsasl as an independent SASL peer"): every base64 message is one line; every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";

export const GSASL_LINE_TIMEOUT_MS = 10_000;
/** The gsasl binary; SASLKIT_GSASL overrides it. */
export const GSASL = process.env["SASLKIT_GSASL"] || "gsasl";
export const gsaslAvailable = (): boolean => spawnSync(GSASL, ["--version"], { timeout: 5_000 }).status === 0;

export class GsaslProcess {
  readonly #child: ChildProcessWithoutNullStreams;
  #buffer = "";
  #ended = false;
  #stderr = "";
  #waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[]) {
    this.#child = spawn(GSASL, ["--quiet", ...args], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child.stdout.setEncoding("utf8");
    this.#child.stdout.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#wake();
    });
    this.#child.stdout.on("end", () => {
      this.#ended = true;
      this.#wake();
    });
    this.#child.stderr.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr += chunk));
    this.#child.stdin.on("error", () => undefined); // an exited gsasl reports through its exit status
    this.exited = new Promise((resolve) => this.#child.on("close", (code) => resolve(code)));
  }

  get stderr(): string {
    return this.#stderr;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /**
   * The next output line without its newline and without gsasl's channel-binding prompt (which it
   * prints before reading binding data for a -PLUS mechanism); null at end of output.
   */
  async readLine(): Promise<string | null> {
    const deadline = Date.now() + GSASL_LINE_TIMEOUT_MS;
    for (;;) {
      const nl = this.#buffer.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        return line.replace(/^Enter base64 encoded [a-z-]+ channel binding: /, "");
      }
      if (this.#ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`gsasl sent no line within ${GSASL_LINE_TIMEOUT_MS} ms (stderr: ${this.#stderr.trim()})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  writeLine(line: string): void {
    if (!this.#child.stdin.writableEnded) this.#child.stdin.write(`${line}\n`);
  }

  closeInput(): void {
    if (!this.#child.stdin.writableEnded) this.#child.stdin.end();
  }

  /** The exit status, waited for at most GSASL_LINE_TIMEOUT_MS. */
  async exitCode(): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("gsasl did not exit in time")), GSASL_LINE_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill("SIGKILL");
  }
}
