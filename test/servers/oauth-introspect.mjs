#!/usr/bin/env node
// A tiny RFC 7662 token-introspection endpoint for Dovecot's oauth2 passdb
// (introspection_mode = post). node: builtins only.
//
//   node oauth-introspect.mjs --host 127.0.0.1 --port 15080 \
//        --tokens STATE/oauth/tokens.json --pid-file STATE/oauth/oauth.pid
//
// tokens.json maps token -> user name, e.g. {"tok-alice-valid": "alice"}.
// It is re-read on every request. A known token answers
// {"active": true, "username": USER, ...}; anything else {"active": false}.
// Accepts the token as a POST form field `token`, a `token` / `access_token`
// query parameter, or an `Authorization: Bearer` header (Dovecot's modes
// post, get and auth). The PID file is written once the port is listening.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '15080' },
    tokens: { type: 'string' },
    'pid-file': { type: 'string' },
  },
});

function loadTokens() {
  if (!values.tokens) return {};
  try {
    return JSON.parse(readFileSync(values.tokens, 'utf8'));
  } catch (err) {
    console.error(`cannot read ${values.tokens}: ${err.message}`);
    return {};
  }
}

function log(msg) {
  console.log(`${new Date().toISOString()} ${msg}`);
}

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 1 << 20) {
      res.writeHead(413).end();
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const body = Buffer.concat(chunks).toString('utf8');
    let token = null;
    if (req.method === 'POST') {
      token = new URLSearchParams(body).get('token');
    }
    token ??= url.searchParams.get('token') ?? url.searchParams.get('access_token');
    const auth = req.headers.authorization;
    if (token == null && auth && /^bearer /i.test(auth)) token = auth.slice(7).trim();

    const tokens = loadTokens();
    const user = token != null && Object.hasOwn(tokens, token) ? tokens[token] : undefined;
    const now = Math.floor(Date.now() / 1000);
    const answer =
      typeof user === 'string'
        ? {
            active: true,
            username: user,
            sub: user,
            scope: 'mail',
            token_type: 'Bearer',
            iat: now,
            exp: now + 3600,
          }
        : { active: false };
    log(`${req.method} ${url.pathname} token=${token == null ? '-' : JSON.stringify(token)} -> ${user ?? 'inactive'}`);
    const json = JSON.stringify(answer);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(json),
    });
    res.end(json);
  });
});

server.on('error', (err) => {
  console.error(`oauth-introspect: ${err.message}`);
  process.exit(1);
});

function shutdown() {
  server.close();
  if (values['pid-file']) rmSync(values['pid-file'], { force: true });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(Number(values.port), values.host, () => {
  if (values['pid-file']) writeFileSync(values['pid-file'], `${process.pid}\n`);
  log(`listening on ${values.host}:${values.port}`);
});
