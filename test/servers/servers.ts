/**
 * Real mail servers for integration tests: Postfix 3.7 (with Dovecot's and
 * with Cyrus SASL), Dovecot 2.3 and an OAuth token-introspection endpoint,
 * run by the shell scripts beside this file on loopback high ports (see
 * README.md). node: builtins only, no test framework: usable from vitest's
 * globalSetup, from tests and from scripts.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A mail account on the servers (passdb, userdb and Maildir). */
export interface ServerUser {
  /** Login name (also the Maildir name). */
  readonly user: string;
  /** The password as stored on the server ({PLAIN}, no SASLprep applied by the server). */
  readonly password: string;
  /** Mail address, e.g. alice@saslkit.test. */
  readonly address: string;
  /** prep only: passwords a SASLprep-ing client must map to `password` ("I\u00ADX", "\u2168"). */
  readonly saslprepPasswords?: readonly string[];
}

/** The shape of $SASLKIT_SERVERS_DIR/env.json, written by start.sh. */
export interface ServerEnv {
  readonly version: 1;
  /** State dir: configs, certificates, logs, Maildirs. Wiped by every start. */
  readonly stateDir: string;
  /** PEM of the test CA that signed every certificate below. */
  readonly caFile: string;
  /** Server certificate (CN/SAN localhost, SAN IP 127.0.0.1 and 127.0.0.2) and key, PEM. */
  readonly serverCert: { readonly cert: string; readonly key: string };
  /** Client certificate for EXTERNAL: Dovecot takes its CN (`user`) as the login name. */
  readonly clientCert: { readonly cert: string; readonly key: string; readonly user: string };
  /** 127.0.0.1: lenient listeners (cleartext AUTH offered and accepted before STARTTLS). */
  readonly host: string;
  /**
   * 127.0.0.2: the same ports, strict: no password mechanism (PLAIN, LOGIN,
   * OAUTHBEARER, XOAUTH2) before TLS; IMAP says LOGINDISABLED; Postfix offers no
   * AUTH before STARTTLS. The OAuth endpoint listens on `host` only.
   */
  readonly strictHost: string;
  /** Name to verify the server certificate against ("localhost"). */
  readonly tlsServerName: string;
  /** Host name in greetings and EHLO replies (mail.saslkit.test). */
  readonly hostname: string;
  /** Mail domain of every user (saslkit.test). */
  readonly domain: string;
  /** Every port is portBase + the standard port (default 15000: SMTP 15025, IMAP 15143, ...). */
  readonly portBase: number;
  /** Postfix: `port` STARTTLS offered, not required; `tlsPort` implicit TLS. */
  readonly smtp: { readonly port: number; readonly tlsPort: number };
  /** Dovecot submission (STARTTLS), relays through Postfix. */
  readonly submission: { readonly port: number };
  /**
   * Postfix smtpd with Cyrus SASL (sasldb) instead of Dovecot's auth socket, on `host` only
   * (STARTTLS offered, AUTH accepted before it too). Users are the same, stored as
   * user@`realm` in the sasldb; DIGEST-MD5 offers `realm`.
   */
  readonly cyrusSmtp: { readonly port: number; readonly realm: string };
  /** Dovecot IMAP: `port` STARTTLS, `tlsPort` implicit TLS. */
  readonly imap: { readonly port: number; readonly tlsPort: number };
  /** Dovecot POP3: `port` STLS, `tlsPort` implicit TLS. */
  readonly pop3: { readonly port: number; readonly tlsPort: number };
  readonly oauth: {
    readonly introspectPort: number;
    readonly introspectUrl: string;
    /** Valid bearer tokens by user. */
    readonly tokens: { readonly alice: string; readonly bob: string } & Readonly<Record<string, string>>;
    /** A token the endpoint reports inactive. */
    readonly invalidToken: string;
  };
  readonly users: {
    readonly alice: ServerUser;
    readonly bob: ServerUser;
    /** Non-ASCII user name and password. */
    readonly "ümlaut": ServerUser;
    /** Stored password "IX"; a SASLprep-ing client given "I\u00ADX" or "\u2168" gets in. */
    readonly prep: ServerUser;
    /** The user ANONYMOUS logs in as (Dovecot auth_anonymous_username). */
    readonly anon: ServerUser;
  } & Readonly<Record<string, ServerUser>>;
  /**
   * Mechanisms advertised after TLS (upper case). `dovecot`: IMAP and POP3;
   * `submission`: Dovecot submission (no ANONYMOUS there); `postfix`: Postfix
   * via Dovecot's auth socket (no EXTERNAL: Postfix cannot pass the certificate).
   * On `host`, Dovecot and Postfix advertise the same lists before TLS too.
   */
  readonly mechanisms: {
    readonly dovecot: readonly string[];
    readonly submission: readonly string[];
    readonly postfix: readonly string[];
    /** The Cyrus SASL listener (`cyrusSmtp`), before and after STARTTLS. */
    readonly cyrus: readonly string[];
  };
  /** Advertised before STARTTLS on `strictHost` (Postfix: none). */
  readonly strictMechanismsBeforeTls: {
    readonly dovecot: readonly string[];
    readonly submission: readonly string[];
    readonly postfix: readonly string[];
  };
  /** Postfix message_size_limit and Dovecot submission_max_mail_size (bytes). */
  readonly messageSizeLimit: number;
  /** Maildir of a user, `%u` standing for the user name. */
  readonly maildir: string;
  readonly logs: { readonly dovecot: string; readonly postfix: string; readonly oauth: string };
  /** Date.now() when start.sh began. */
  readonly startedAt: number;
}

/** What global-setup.ts puts in process.env.SASLKIT_SERVER_ENV when the servers are not there. */
export interface ServersUnavailable {
  readonly unavailable: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));

/** The state dir: $SASLKIT_SERVERS_DIR or /tmp/saslkit-servers. */
export function serversDir(): string {
  const dir = process.env["SASLKIT_SERVERS_DIR"];
  return dir !== undefined && dir !== "" ? dir : "/tmp/saslkit-servers";
}

/** Reads $STATE/env.json; undefined when the servers are not running (or never ran). */
export function loadServerEnv(): ServerEnv | undefined {
  const file = join(serversDir(), "env.json");
  try {
    const env = JSON.parse(readFileSync(file, "utf8")) as ServerEnv;
    return env.version === 1 ? env : undefined;
  } catch {
    return undefined;
  }
}

/**
 * For test files: the servers global-setup.ts started, or why there are none.
 * Reads process.env.SASLKIT_SERVER_ENV (set by global-setup.ts), else env.json.
 */
export function serverEnvForTests(): { env: ServerEnv; unavailable?: undefined } | { env?: undefined; unavailable: string } {
  const raw = process.env["SASLKIT_SERVER_ENV"];
  if (raw !== undefined && raw !== "") {
    try {
      const parsed = JSON.parse(raw) as ServerEnv | ServersUnavailable;
      if ("unavailable" in parsed) return { unavailable: parsed.unavailable };
      return { env: parsed };
    } catch {
      return { unavailable: "SASLKIT_SERVER_ENV is not valid JSON" };
    }
  }
  const env = loadServerEnv();
  return env !== undefined
    ? { env }
    : { unavailable: `no servers: global setup did not run and ${join(serversDir(), "env.json")} is missing` };
}

/** Where startServers()/stopServers() write the scripts' output. */
export function setupLogFile(): string {
  return `${serversDir()}-setup.log`;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

function runScript(script: string, timeoutMs: number, logFile: string, args: readonly string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const fd = openSync(logFile, "a");
    let timedOut = false;
    const child = spawn("bash", [join(HERE, script), ...args], {
      stdio: ["ignore", fd, fd],
      env: { ...process.env, SASLKIT_SERVERS_DIR: serversDir() },
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, timeoutMs);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      closeSync(fd);
      if (err === undefined) resolve();
      else reject(err);
    };
    child.on("error", (err) => finish(err));
    child.on("close", (code, signal) => {
      if (code === 0) return finish();
      const why = timedOut ? `timed out after ${timeoutMs} ms` : signal !== null ? `killed by ${signal}` : `exit ${code}`;
      const log = tail(logFile, 60);
      // The scripts' own messages ("start.sh: ...") say what went wrong.
      const said = log.split("\n").filter((l) => l.startsWith(`${script}: `)).map((l) => l.slice(script.length + 2));
      const summary = said.length > 0 ? `: ${said.join("; ")}` : "";
      finish(new Error(`test/servers/${script} failed (${why})${summary}\nlog ${logFile}:\n${log}`));
    });
  });
}

export interface StartOptions {
  /** Time allowed for install.sh (apt-get); default 600 s. */
  readonly installTimeoutMs?: number;
  /** Time allowed for start.sh; default 90 s. */
  readonly startTimeoutMs?: number;
  /** Skip install.sh (packages known to be present). */
  readonly skipInstall?: boolean;
}

/** Runs install.sh (a fast no-op when installed) then start.sh; resolves with env.json. */
export async function startServers(opts: StartOptions = {}): Promise<ServerEnv> {
  const log = setupLogFile();
  closeSync(openSync(log, "w")); // one log per start
  if (opts.skipInstall !== true) await runScript("install.sh", opts.installTimeoutMs ?? 600_000, log);
  await runScript("start.sh", opts.startTimeoutMs ?? 90_000, log);
  const env = loadServerEnv();
  if (env === undefined) throw new Error(`start.sh succeeded but ${join(serversDir(), "env.json")} is unreadable`);
  return env;
}

/** Runs stop.sh: stops what start.sh started from the same state dir (by PID files). */
export async function stopServers(): Promise<void> {
  await runScript("stop.sh", 60_000, setupLogFile());
}

/**
 * Like startServers(), but shares the servers with other test runs on the
 * same machine (same state dir): reuses them when another live run holds a
 * lease and they are healthy, else (re)starts them. Records a lease for this
 * process; pair with releaseServers().
 */
export async function acquireServers(opts: StartOptions = {}): Promise<ServerEnv> {
  const log = setupLogFile();
  closeSync(openSync(log, "w"));
  if (opts.skipInstall !== true) await runScript("install.sh", opts.installTimeoutMs ?? 600_000, log);
  // Waiting for another run's start holds the lock: allow for it.
  await runScript("acquire.sh", (opts.startTimeoutMs ?? 90_000) + 300_000, log, [String(process.pid)]);
  const env = loadServerEnv();
  if (env === undefined) throw new Error(`acquire.sh succeeded but ${join(serversDir(), "env.json")} is unreadable`);
  return env;
}

/** Drops this process's lease; stops the servers when no other live run holds one. */
export async function releaseServers(): Promise<void> {
  await runScript("release.sh", 360_000, setupLogFile(), [String(process.pid)]);
}

/** The Maildir of `user` (new/ and cur/ hold delivered messages). */
export function maildirOf(user: string, env: ServerEnv | undefined = loadServerEnv()): string {
  const pattern = env?.maildir ?? join(serversDir(), "mail", "%u", "Maildir");
  return pattern.replace("%u", user);
}

/** A delivered message file. */
export interface DeliveredFile {
  readonly path: string;
  /** Delivery time in ms: from the Maildir file name (sec.Musec...), else the file's mtime. */
  readonly deliveredAt: number;
}

/** Lists the messages in a user's Maildir (new/ and cur/), oldest first. */
export function listDelivered(user: string, env?: ServerEnv): DeliveredFile[] {
  const base = maildirOf(user, env);
  const out: DeliveredFile[] = [];
  for (const sub of ["new", "cur"]) {
    const dir = join(base, sub);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const m = /^(\d+)\.M(\d+)P/.exec(name);
      let deliveredAt: number;
      if (m !== null) {
        deliveredAt = Number(m[1]) * 1000 + Math.floor(Number(m[2]) / 1000);
      } else {
        try {
          deliveredAt = statSync(path).mtimeMs;
        } catch {
          continue; // moved from new/ to cur/ meanwhile
        }
      }
      out.push({ path, deliveredAt });
    }
  }
  return out.sort((a, b) => a.deliveredAt - b.deliveredAt || a.path.localeCompare(b.path));
}

export interface ReadDeliveredOptions {
  /** How long to wait for `count` messages; default 10 000 ms (0: look once). */
  readonly timeoutMs?: number;
  /** Only messages delivered at or after this time (Date.now() before sending). */
  readonly since?: number;
  /**
   * Only messages containing these bytes (e.g. a unique Message-ID): other
   * tests, and other test runs sharing the servers, deliver to the same users.
   */
  readonly containing?: string | Buffer;
  /** How many messages to wait for; default 1. */
  readonly count?: number;
  /** Poll interval; default 50 ms. */
  readonly pollMs?: number;
}

/**
 * Waits until at least `count` messages (delivered since `since`) are in the
 * user's Maildir and returns their raw bytes, oldest first. Files appear in
 * new/ atomically (Maildir), so each is complete. Dovecot stores them with
 * CRLF line ends, as sent over SMTP, prefixed by trace fields (see
 * stripTraceHeaders). Rejects on timeout.
 */
export async function readDelivered(user: string, opts: ReadDeliveredOptions = {}): Promise<Buffer[]> {
  const { timeoutMs = 10_000, since = 0, count = 1, pollMs = 50, containing } = opts;
  const needle = containing === undefined ? undefined : Buffer.from(containing);
  const deadline = Date.now() + timeoutMs;
  const cache = new Map<string, Buffer | null>(); // by file name (without the :2,flags a move to cur/ adds)
  for (;;) {
    const out: Buffer[] = [];
    for (const f of listDelivered(user)) {
      if (f.deliveredAt < since) continue;
      const key = basename(f.path).split(":")[0] ?? f.path;
      let data = cache.get(key);
      if (data === undefined) {
        try {
          data = await readFile(f.path);
        } catch {
          continue; // moved new/ -> cur/ meanwhile: found there next round
        }
        if (needle !== undefined && !data.includes(needle)) data = null;
        cache.set(key, data);
      }
      if (data !== null) out.push(data);
    }
    if (out.length >= count) return out;
    if (Date.now() >= deadline) {
      if (timeoutMs === 0) return out;
      const what = needle === undefined ? "" : ` containing ${JSON.stringify(needle.toString())}`;
      throw new Error(
        `readDelivered(${user}): ${out.length} of ${count} message(s)${what} after ${timeoutMs} ms in ${maildirOf(user)}`,
      );
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

const TRACE_FIELDS = ["return-path", "received", "delivered-to", "x-original-to"];

/**
 * Removes the trace header fields the servers put before a message: Dovecot's
 * Return-Path and the Received fields of Postfix (and of Dovecot submission).
 * What remains is byte for byte what the client sent in DATA (dot-unstuffed,
 * CRLF line ends), provided the message itself does not start with such fields.
 */
export function stripTraceHeaders(raw: Buffer): Buffer {
  let pos = 0;
  for (;;) {
    const colon = raw.indexOf(":", pos);
    const eol = raw.indexOf("\r\n", pos);
    if (colon < 0 || eol < 0 || colon > eol) return raw.subarray(pos);
    const name = raw.subarray(pos, colon).toString("latin1").toLowerCase();
    if (!TRACE_FIELDS.includes(name)) return raw.subarray(pos);
    let end = eol + 2;
    while (end < raw.length && (raw[end] === 0x20 || raw[end] === 0x09)) {
      const next = raw.indexOf("\r\n", end);
      if (next < 0) return raw.subarray(raw.length);
      end = next + 2;
    }
    pos = end;
  }
}
