#!/usr/bin/env python3
"""Smoke check of the servers start.sh runs, with Python's standard library only.

A small independent SASL client (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5 and
SCRAM-SHA-1/256 with server-proof checks, ANONYMOUS, EXTERNAL, OAUTHBEARER,
XOAUTH2) speaks raw SMTP, IMAP and POP3 against every listener (Postfix with
Dovecot's SASL and with Cyrus SASL), then mail is sent through Postfix
and Dovecot submission and read back from the Maildir. Reads $STATE/env.json.
Prints one line per check and 'N passed, N failed' at the end; exit 1 on failure.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import smtplib
import socket
import ssl
import stringprep
import sys
import time
import unicodedata
import urllib.request

STATE = os.environ.get("SASLKIT_SERVERS_DIR", "/tmp/saslkit-servers")
ENV = json.load(open(os.path.join(STATE, "env.json"), encoding="utf-8"))
HOST, STRICT = ENV["host"], ENV["strictHost"]
U = ENV["users"]
TIMEOUT = 10

passed = failed = 0


def check(name, fn):
    global passed, failed
    t0 = time.monotonic()
    try:
        fn()
        passed += 1
        print(f"ok    {name} ({time.monotonic() - t0:.2f}s)")
    except Exception as e:  # noqa: BLE001 - report everything
        failed += 1
        print(f"FAIL  {name}: {type(e).__name__}: {e}")


def tls_context(client_cert=False):
    ctx = ssl.create_default_context(cafile=ENV["caFile"])
    if client_cert:
        ctx.load_cert_chain(ENV["clientCert"]["cert"], ENV["clientCert"]["key"])
    return ctx


# ---------------------------------------------------------------- SASL client
def saslprep(s):
    """RFC 4013 (enough for the test: mapping, NFKC, prohibited checks)."""
    out = []
    for c in s:
        if stringprep.in_table_b1(c):
            continue
        out.append(" " if stringprep.in_table_c12(c) else c)
    s = unicodedata.normalize("NFKC", "".join(out))
    for c in s:
        if (stringprep.in_table_c12(c) or stringprep.in_table_c21_c22(c) or stringprep.in_table_c3(c)
                or stringprep.in_table_c4(c) or stringprep.in_table_c5(c) or stringprep.in_table_c6(c)
                or stringprep.in_table_c7(c) or stringprep.in_table_c8(c) or stringprep.in_table_c9(c)):
            raise ValueError("prohibited character")
    return s


class Mech:
    """initial() -> bytes | None; step(challenge) -> bytes; done() checks the end."""

    def __init__(self, name, user="", password="", token="", prep=False, authzid="", service="smtp", host=HOST):
        self.name, self.user, self.token, self.authzid = name, user, token, authzid
        self.password = saslprep(password) if prep else password
        self.digest_uri = f"{service}/{host}"
        self.n = 0
        self.server_ok = name not in ("SCRAM-SHA-1", "SCRAM-SHA-256", "DIGEST-MD5")

    def initial(self):
        m = self.name
        if m == "PLAIN":
            return f"{self.authzid}\0{self.user}\0{self.password}".encode()
        if m == "ANONYMOUS":
            return b"saslkit-check@example.org"
        if m == "EXTERNAL":
            return self.authzid.encode()
        if m == "OAUTHBEARER":
            return f"n,a={self.user},\x01host={HOST}\x01auth=Bearer {self.token}\x01\x01".encode()
        if m == "XOAUTH2":
            return f"user={self.user}\x01auth=Bearer {self.token}\x01\x01".encode()
        if m.startswith("SCRAM-"):
            self.hash = hashlib.sha1 if m == "SCRAM-SHA-1" else hashlib.sha256
            self.cnonce = base64.b64encode(secrets.token_bytes(18)).decode()
            name = self.user.replace("=", "=3D").replace(",", "=2C")
            self.bare = f"n={name},r={self.cnonce}"
            return ("n,," + self.bare).encode()
        return None  # LOGIN, CRAM-MD5: server speaks first

    def step(self, chal):
        self.n += 1
        m = self.name
        if m == "LOGIN":
            return (self.user if self.n == 1 else self.password).encode()
        if m == "CRAM-MD5":
            digest = hmac.new(self.password.encode(), chal, hashlib.md5).hexdigest()
            return f"{self.user} {digest}".encode()
        if m == "OAUTHBEARER":
            return b"\x01"  # error JSON received: RFC 7628 dummy response
        if m == "XOAUTH2":
            return b""
        if m == "DIGEST-MD5":
            if self.n == 1:
                return self.digest_response(chal.decode())
            if chal.decode() != f"rspauth={self.expect_rspauth}":
                raise ValueError(f"bad rspauth {chal!r}")
            self.server_ok = True
            return b""
        if m.startswith("SCRAM-"):
            if self.n == 1:
                attrs = dict(kv.split("=", 1) for kv in chal.decode().split(","))
                if not attrs["r"].startswith(self.cnonce):
                    raise ValueError("server nonce does not extend client nonce")
                salted = hashlib.pbkdf2_hmac(self.hash().name, self.password.encode(),
                                             base64.b64decode(attrs["s"]), int(attrs["i"]))
                final_bare = f"c=biws,r={attrs['r']}"
                auth_msg = f"{self.bare},{chal.decode()},{final_bare}".encode()
                client_key = hmac.new(salted, b"Client Key", self.hash).digest()
                stored = self.hash(client_key).digest()
                sig = hmac.new(stored, auth_msg, self.hash).digest()
                proof = bytes(a ^ b for a, b in zip(client_key, sig))
                server_key = hmac.new(salted, b"Server Key", self.hash).digest()
                self.expect_v = base64.b64encode(hmac.new(server_key, auth_msg, self.hash).digest()).decode()
                return f"{final_bare},p={base64.b64encode(proof).decode()}".encode()
            self.check_final(chal)
            return b""
        raise ValueError(f"unexpected challenge for {m}: {chal!r}")

    def digest_response(self, chal):
        # RFC 2831 with UTF-8 credentials hashed as UTF-8 (what Dovecot and Cyrus check).
        attrs = {}
        for k, v in re.findall(r'([a-zA-Z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)', chal):
            v = re.sub(r'\\(.)', r'\1', v[1:-1]) if v.startswith('"') else v
            attrs.setdefault(k.lower(), v)
        realm, nonce, cnonce = attrs.get("realm", ""), attrs["nonce"], secrets.token_hex(16)
        h = lambda b: hashlib.md5(b).digest()
        hx = lambda b: hashlib.md5(b).hexdigest()
        a1 = h(f"{self.user}:{realm}:{self.password}".encode()) + f":{nonce}:{cnonce}".encode()
        kd = lambda a2: hx(f"{hx(a1)}:{nonce}:00000001:{cnonce}:auth:{hx(a2.encode())}".encode())
        self.expect_rspauth = kd(f":{self.digest_uri}")
        return (f'charset=utf-8,username="{self.user}",realm="{realm}",nonce="{nonce}",nc=00000001,'
                f'cnonce="{cnonce}",digest-uri="{self.digest_uri}",response={kd(f"AUTHENTICATE:{self.digest_uri}")},qop=auth').encode()

    def check_final(self, data):
        if self.name.startswith("SCRAM-") and data:
            if data.decode() != f"v={self.expect_v}":
                raise ValueError(f"bad server signature {data!r}")
            self.server_ok = True

    def done(self):
        if not self.server_ok:
            raise ValueError("server signature never checked")


class AuthFailed(Exception):
    pass


# ---------------------------------------------------------------- protocols
class Conn:
    def __init__(self, host, port, implicit_tls=False, client_cert=False):
        self.host, self.client_cert = host, client_cert
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        if implicit_tls:
            self._wrap()
        self.f = self.sock.makefile("rb")

    def _wrap(self):
        self.sock = tls_context(self.client_cert).wrap_socket(self.sock, server_hostname=ENV["tlsServerName"])

    def starttls(self):
        self._wrap()
        self.f = self.sock.makefile("rb")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n")

    def line(self):
        raw = self.f.readline()
        if not raw:
            raise EOFError("connection closed")
        return raw.rstrip(b"\r\n").decode("utf-8", "replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def b64(b):
    return base64.b64encode(b).decode()


class SMTP(Conn):
    def __init__(self, host, port, implicit_tls=False, starttls=True, client_cert=False):
        super().__init__(host, port, implicit_tls, client_cert)
        self.reply()
        self.ehlo()
        if starttls and not implicit_tls:
            code, _ = self.cmd("STARTTLS")
            assert code == 220, f"STARTTLS -> {code}"
            self.starttls()
            self.ehlo()

    def reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln[4:])
            if ln[3:4] != "-":
                return int(ln[:3]), lines

    def cmd(self, c):
        self.send(c)
        return self.reply()

    def ehlo(self):
        code, lines = self.cmd("EHLO client.saslkit.test")
        assert code == 250, f"EHLO -> {code}"
        self.caps = lines[1:]
        self.mechs = set()
        for c in self.caps:
            if c.upper().startswith(("AUTH ", "AUTH=")):
                self.mechs |= set(c[5:].upper().split())

    def auth(self, mech):
        ir = mech.initial()
        code, lines = self.cmd(f"AUTH {mech.name}" + ("" if ir is None else " " + (b64(ir) or "=")))
        while code == 334:
            code, lines = self.cmd(b64(mech.step(base64.b64decode(lines[0]))))
        if code != 235:
            raise AuthFailed(f"{code} {lines[0]}")
        mech.done()

    def quit(self):
        try:
            self.cmd("QUIT")
        finally:
            self.close()


class IMAP(Conn):
    def __init__(self, host, port, implicit_tls=False, starttls=True, client_cert=False):
        super().__init__(host, port, implicit_tls, client_cert)
        self.tagn = 0
        self.greeting = self.line()
        self.capability()
        if starttls and not implicit_tls:
            ok, _ = self.cmd("STARTTLS")
            assert ok, "STARTTLS refused"
            self.starttls()
            self.capability()

    def cmd(self, c, cont=None):
        self.tagn += 1
        tag = f"a{self.tagn}"
        self.send(f"{tag} {c}")
        untagged = []
        while True:
            ln = self.line()
            if ln.startswith("+"):
                if cont is None:
                    raise ValueError("unexpected continuation")
                self.send(cont(ln[2:] if len(ln) > 1 else ""))
            elif ln.startswith(tag + " "):
                status = ln[len(tag) + 1:]
                return status.startswith("OK"), untagged + [status]
            else:
                untagged.append(ln)

    def capability(self):
        ok, lines = self.cmd("CAPABILITY")
        caps = [ln for ln in lines if ln.startswith("* CAPABILITY")][0].split()[2:]
        self.caps = {c.upper() for c in caps}
        self.mechs = {c[5:] for c in self.caps if c.startswith("AUTH=")}

    def auth(self, mech):
        ir = mech.initial()

        def cont(text):
            return b64(mech.step(base64.b64decode(text)))

        c = f"AUTHENTICATE {mech.name}" + ("" if ir is None else " " + (b64(ir) or "="))
        ok, lines = self.cmd(c, cont)
        if not ok:
            raise AuthFailed(lines[-1])
        mech.done()

    def logout(self):
        try:
            self.cmd("LOGOUT")
        finally:
            self.close()


class POP3(Conn):
    def __init__(self, host, port, implicit_tls=False, starttls=True, client_cert=False):
        super().__init__(host, port, implicit_tls, client_cert)
        self.greeting = self.line()
        self.capa()
        if starttls and not implicit_tls:
            assert self.cmd("STLS").startswith("+OK"), "STLS refused"
            self.starttls()
            self.capa()

    def cmd(self, c):
        self.send(c)
        return self.line()

    def capa(self):
        assert self.cmd("CAPA").startswith("+OK")
        caps = []
        while (ln := self.line()) != ".":
            caps.append(ln)
        self.caps = caps
        self.mechs = set()
        for c in caps:
            if c.upper().startswith("SASL "):
                self.mechs |= set(c[5:].upper().split())

    def auth(self, mech):
        ir = mech.initial()
        resp = self.cmd(f"AUTH {mech.name}" + ("" if ir is None else " " + (b64(ir) or "=")))
        while resp.startswith("+ ") or resp == "+":
            resp = self.cmd(b64(mech.step(base64.b64decode(resp[2:]))))
        if not resp.startswith("+OK"):
            raise AuthFailed(resp)
        mech.done()

    def quit(self):
        try:
            self.cmd("QUIT")
        finally:
            self.close()


PROTOS = {"smtp": SMTP, "submission": SMTP, "imap": IMAP, "pop3": POP3, "cyrusSmtp": SMTP}


def port_of(service, tls=False):
    return ENV[service]["tlsPort" if tls else "port"]


def open_session(service, host=HOST, tls=False, starttls=True, client_cert=False):
    return PROTOS[service](host, port_of(service, tls), implicit_tls=tls, starttls=starttls, client_cert=client_cert)


def close(s):
    (s.logout if isinstance(s, IMAP) else s.quit)()


def expect_auth(service, mech_factory, ok=True, **kw):
    def run():
        s = open_session(service, **kw)
        try:
            mech = mech_factory()
            if mech.name not in s.mechs:
                raise AssertionError(f"{mech.name} not advertised ({sorted(s.mechs)})")
            try:
                s.auth(mech)
                if not ok:
                    raise AssertionError("authentication succeeded but should have failed")
            except AuthFailed:
                if ok:
                    raise
        finally:
            close(s)
    return run


# ---------------------------------------------------------------- the checks
PASSWORD_MECHS = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]
alice, bob, uml, prep = U["alice"], U["bob"], U["ümlaut"], U["prep"]
tokens = ENV["oauth"]["tokens"]


def pw_mech(name, u, password=None, prep=False, service="smtp"):
    return lambda: Mech(name, u["user"], u["password"] if password is None else password, prep=prep, service=service)


SASL_SERVICE = {"smtp": "smtp", "submission": "smtp", "cyrusSmtp": "smtp", "imap": "imap", "pop3": "pop"}


def section_auth():
    for service in ("smtp", "submission", "imap", "pop3"):
        adv = set(ENV["mechanisms"][{"smtp": "postfix", "submission": "submission"}.get(service, "dovecot")])
        for m in PASSWORD_MECHS + ["DIGEST-MD5"]:
            check(f"{service} {m} alice", expect_auth(service, pw_mech(m, alice, service=SASL_SERVICE[service])))
            check(f"{service} {m} ümlaut (non-ASCII)", expect_auth(service, pw_mech(m, uml, service=SASL_SERVICE[service])))
        check(f"{service} PLAIN alice wrong password fails",
              expect_auth(service, pw_mech("PLAIN", alice, "nope"), ok=False))
        check(f"{service} SCRAM-SHA-256 bob wrong password fails",
              expect_auth(service, pw_mech("SCRAM-SHA-256", bob, "nope"), ok=False))
        for pw in prep["saslprepPasswords"]:
            for m in ("PLAIN", "SCRAM-SHA-256"):
                check(f"{service} {m} prep with {pw!r} prepared by the client",
                      expect_auth(service, pw_mech(m, prep, pw, prep=True)))
        check(f"{service} PLAIN prep with unprepared '\\u2168' fails (server prepares nothing)",
              expect_auth(service, pw_mech("PLAIN", prep, "\u2168"), ok=False))
        for who in ("alice", "bob"):
            for m in ("OAUTHBEARER", "XOAUTH2"):
                check(f"{service} {m} {who} valid token",
                      expect_auth(service, lambda m=m, who=who: Mech(m, who, token=tokens[who])))
        for m in ("OAUTHBEARER", "XOAUTH2"):
            check(f"{service} {m} invalid token fails",
                  expect_auth(service, lambda m=m: Mech(m, "alice", token=ENV["oauth"]["invalidToken"]), ok=False))
            check(f"{service} {m} bob with alice's token fails",
                  expect_auth(service, lambda m=m: Mech(m, "bob", token=tokens["alice"]), ok=False))
        if "ANONYMOUS" in adv:
            check(f"{service} ANONYMOUS", expect_auth(service, lambda: Mech("ANONYMOUS")))
        if "EXTERNAL" in adv:
            check(f"{service} EXTERNAL with alice's client cert",
                  expect_auth(service, lambda: Mech("EXTERNAL"), client_cert=True))
            check(f"{service} EXTERNAL without a client cert fails",
                  expect_auth(service, lambda: Mech("EXTERNAL"), ok=False))

        def advertised(service=service, adv=adv):
            s = open_session(service)
            try:
                assert s.mechs == adv, f"advertised {sorted(s.mechs)} != expected {sorted(adv)}"
            finally:
                close(s)
        check(f"{service} advertises exactly {sorted(adv)} after STARTTLS", advertised)

        def lenient_before_tls(service=service, adv=adv):
            s = open_session(service, starttls=False)
            try:
                assert s.mechs == adv, f"advertised {sorted(s.mechs)} != expected {sorted(adv)}"
            finally:
                close(s)
        check(f"{service} on {HOST} advertises the same before STARTTLS", lenient_before_tls)

    # implicit TLS ports
    for service in ("smtp", "imap", "pop3"):
        for m in ("PLAIN", "SCRAM-SHA-256"):
            check(f"{service} implicit TLS {m} alice", expect_auth(service, pw_mech(m, alice), tls=True))
        check(f"{service} implicit TLS EXTERNAL" if service != "smtp" else "smtps OAUTHBEARER alice",
              expect_auth(service, (lambda: Mech("EXTERNAL")) if service != "smtp"
                          else (lambda: Mech("OAUTHBEARER", "alice", token=tokens["alice"])),
                          tls=True, client_cert=service != "smtp"))

    # cleartext on the lenient listeners
    for service in ("smtp", "submission", "imap", "pop3"):
        check(f"{service} cleartext PLAIN on {HOST} (lenient)",
              expect_auth(service, pw_mech("PLAIN", alice), starttls=False))


def section_cyrus():
    service, adv = "cyrusSmtp", set(ENV["mechanisms"]["cyrus"])
    for m in sorted(adv):
        for u in (alice, uml):
            check(f"cyrus {m} {u['user']}", expect_auth(service, pw_mech(m, u)))
        check(f"cyrus {m} alice wrong password fails", expect_auth(service, pw_mech(m, alice, "nope"), ok=False))

    def advertised():
        s = open_session(service)
        try:
            assert s.mechs == adv, f"advertised {sorted(s.mechs)} != expected {sorted(adv)}"
        finally:
            close(s)
    check(f"cyrus advertises exactly {sorted(adv)} after STARTTLS", advertised)


def section_strict():
    for service in ("smtp", "submission", "imap", "pop3"):
        def before_tls(service=service):
            s = open_session(service, host=STRICT, starttls=False)
            try:
                key = {"smtp": "postfix", "submission": "submission"}.get(service, "dovecot")
                want = set(ENV["strictMechanismsBeforeTls"][key])
                assert s.mechs == want, f"advertised {sorted(s.mechs)} != expected {sorted(want)}"
                if service == "imap":
                    assert "LOGINDISABLED" in s.caps, "no LOGINDISABLED"
                try:
                    s.auth(Mech("PLAIN", alice["user"], alice["password"]))
                    raise AssertionError("cleartext PLAIN accepted")
                except AuthFailed:
                    pass
            finally:
                close(s)
        check(f"strict {STRICT} {service}: no cleartext password auth before STARTTLS", before_tls)
        check(f"strict {STRICT} {service}: PLAIN after STARTTLS",
              expect_auth(service, pw_mech("PLAIN", alice), host=STRICT))
    check(f"strict {STRICT} smtp implicit TLS PLAIN",
          expect_auth("smtp", pw_mech("PLAIN", alice), host=STRICT, tls=True))


def maildir_files(user):
    base = ENV["maildir"].replace("%u", user)
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        out += [os.path.join(d, f) for f in os.listdir(d)]
    return set(out)


def wait_delivery(user, before, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = maildir_files(user) - before
        if new:
            return [open(f, "rb").read() for f in sorted(new)]
        time.sleep(0.05)
    raise AssertionError(f"nothing delivered to {user} within {timeout}s")


def strip_trace(raw):
    """Drop the trace fields the servers prepend (Return-Path, Received)."""
    while True:
        for name in (b"Return-Path:", b"Received:"):
            if raw[: len(name)].lower() == name.lower():
                end = raw.index(b"\r\n", 0)
                while raw[end + 2: end + 3] in (b" ", b"\t"):
                    end = raw.index(b"\r\n", end + 2)
                raw = raw[end + 2:]
                break
        else:
            return raw


def message(subject, body_lines):
    msgid = f"<{secrets.token_hex(8)}@saslkit.test>"
    return (f"From: alice@saslkit.test\r\nTo: alice@saslkit.test\r\nSubject: {subject}\r\n"
            f"Message-ID: {msgid}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + "\r\n".join(body_lines) + "\r\n").encode()


def section_delivery():
    def via_postfix():
        msg = message("via postfix", ["Hello Ålice,", ".leading dot", "x" * 1500, "end"])
        before = maildir_files("alice")
        with smtplib.SMTP(HOST, ENV["smtp"]["port"], local_hostname="client.saslkit.test", timeout=TIMEOUT) as s:
            s.starttls(context=tls_context())
            s.ehlo("client.saslkit.test")
            refused = s.sendmail("bob@saslkit.test", ["alice@saslkit.test"], msg)
            assert not refused, refused
        got = wait_delivery("alice", before)
        assert len(got) == 1, f"{len(got)} messages"
        assert got[0].startswith(b"Return-Path: <bob@saslkit.test>\r\n"), got[0][:80]
        assert strip_trace(got[0]) == msg, "delivered message differs from what was sent"
    check("unauthenticated mail to alice@saslkit.test via Postfix lands in alice's Maildir, byte for byte", via_postfix)

    def via_submission():
        msg = message("via submission", ["from bob via Dovecot submission"])
        before = maildir_files("alice")
        with smtplib.SMTP(HOST, ENV["submission"]["port"], local_hostname="client.saslkit.test", timeout=TIMEOUT) as s:
            s.starttls(context=tls_context())
            s.ehlo("client.saslkit.test")
            code, _ = s.docmd("AUTH", "PLAIN " + b64(f"\0bob\0{bob['password']}".encode()))
            assert code == 235, code
            assert not s.sendmail("bob@saslkit.test", ["alice@saslkit.test"], msg)
        got = wait_delivery("alice", before)
        assert strip_trace(got[0]) == msg, "delivered message differs from what was sent"
    check("authenticated mail via Dovecot submission -> Postfix -> LMTP lands in alice's Maildir", via_submission)

    def utf8_recipient():
        msg = message("smtputf8", ["für ümlaut"])
        before = maildir_files("ümlaut")
        s = SMTP(HOST, ENV["smtp"]["port"])
        try:
            assert "SMTPUTF8" in [c.upper() for c in s.caps]
            assert s.cmd("MAIL FROM:<alice@saslkit.test> SMTPUTF8")[0] == 250
            code, lines = s.cmd("RCPT TO:<ümlaut@saslkit.test>")
            assert code == 250, (code, lines)
            assert s.cmd("DATA")[0] == 354
            s.sock.sendall(msg + b".\r\n")
            assert s.reply()[0] == 250
        finally:
            s.quit()
        got = wait_delivery("ümlaut", before)
        assert strip_trace(got[0]) == msg
    check("SMTPUTF8 mail to ümlaut@saslkit.test is delivered", utf8_recipient)

    def relay_denied():
        s = SMTP(HOST, ENV["smtp"]["port"])
        try:
            assert s.cmd("MAIL FROM:<alice@saslkit.test>")[0] == 250
            code, lines = s.cmd("RCPT TO:<someone@example.org>")
            assert code == 554 and "Relay access denied" in lines[0], (code, lines)
            code, lines = s.cmd("RCPT TO:<nobody@saslkit.test>")
            assert code == 550, (code, lines)
        finally:
            s.quit()
    check("unauthenticated relaying and unknown local users are refused", relay_denied)

    def relay_authenticated():
        s = SMTP(HOST, ENV["smtp"]["port"])
        try:
            s.auth(Mech("PLAIN", "alice", alice["password"]))
            assert s.cmd("MAIL FROM:<alice@saslkit.test>")[0] == 250
            assert s.cmd("RCPT TO:<someone@example.org>")[0] == 250
            assert s.cmd("DATA")[0] == 354
            s.sock.sendall(message("discarded", ["bye"]) + b".\r\n")
            assert s.reply()[0] == 250
        finally:
            s.quit()
    check("authenticated relaying is accepted (and discarded, nothing leaves)", relay_authenticated)

    def size_advertised():
        s = SMTP(HOST, ENV["smtp"]["port"], starttls=False)
        try:
            caps = {c.split()[0].upper(): c for c in s.caps}
            for k in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS"):
                assert k in caps, f"{k} missing"
            assert int(caps["SIZE"].split()[1]) == ENV["messageSizeLimit"]
        finally:
            s.quit()
    check("Postfix advertises PIPELINING SIZE 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES STARTTLS", size_advertised)


def section_oauth_http():
    def introspect():
        def ask(tok):
            req = urllib.request.Request(ENV["oauth"]["introspectUrl"], data=f"token={tok}".encode(), method="POST")
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return json.load(r)
        assert ask(tokens["alice"]) == {**ask(tokens["alice"]), "active": True, "username": "alice"}
        assert ask("bogus") == {"active": False}
    check("introspection endpoint answers active/inactive", introspect)


section_oauth_http()
section_auth()
section_cyrus()
section_strict()
section_delivery()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
