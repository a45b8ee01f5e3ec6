import { describe, expect, it } from "vitest";
import { Masking, RECENT_PASSWORDS } from "../src/masking.js";

describe("the transport's masking", () => {
  it("masks a login's payloads while it runs and forgets them after, so a long-lived transport does not grow", () => {
    const masking = new Masking();
    masking.addLasting("transport-Password-1");
    const login = masking.begin();
    login.addPayload("bj1hbGljZSxyPW5vbmNlLW9uZQ==");
    expect(masking.redact("C: bj1hbGljZSxyPW5vbmNlLW9uZQ== transport-Password-1")).toBe("C: **** ****");
    masking.end(login);
    expect(masking.active).toBe(0);
    expect(masking.redact("bj1hbGljZSxyPW5vbmNlLW9uZQ==")).toBe("bj1hbGljZSxyPW5vbmNlLW9uZQ==");
    // The transport's own password stays masked, in every form.
    expect(masking.redact(Buffer.from("transport-Password-1").toString("base64"))).not.toContain(Buffer.from("transport-Password-1").toString("base64").slice(0, 20));
    // The login's own redactor still masks what errors built during the login carry.
    expect(login.redact("bj1hbGljZSxyPW5vbmNlLW9uZQ==")).toBe("****");
  });

  it("keeps the passwords of the last RECENT_PASSWORDS logins masked after them, and no more", () => {
    const masking = new Masking();
    masking.addLasting("transport-Password-1");
    masking.addRecent("transport-Password-1"); // already lasting: not kept twice
    expect(masking.recent).toBe(0);
    for (let i = 0; i <= RECENT_PASSWORDS; i++) masking.addRecent(`message-Password-${i}`);
    expect(masking.recent).toBe(RECENT_PASSWORDS);
    expect(masking.redact("550 message-Password-0")).toBe("550 message-Password-0");
    expect(masking.redact(`550 message-Password-${RECENT_PASSWORDS}`)).toBe("550 ****");
    expect(masking.redact(Buffer.from("message-Password-1").toString("base64"))).not.toContain(Buffer.from("message-Password-1").toString("base64").slice(0, 20));
  });

  it("masks a whole payload before the password's base64 inside it", () => {
    const masking = new Masking();
    masking.addLasting("pässwörd-long");
    const login = masking.begin();
    const payload = Buffer.from("\0alice\0pässwörd-long").toString("base64");
    login.addPayload(payload);
    expect(masking.redact(`535 ${payload}`)).toBe("535 ****");
  });
});

describe("the transport's masking, one password beginning another", () => {
  const transportPass = "Summer2024!xyz";
  const messagePass = "Summer2024!";
  const leaks = (text: string) => [transportPass, Buffer.from(transportPass).toString("base64"), "xyz", "F4eXo"].filter((form) => text.includes(form));

  it("a recent per-message password that begins the transport's does not leave the transport password's tail readable (raw or base64)", () => {
    const masking = new Masking();
    masking.addLasting(transportPass);
    masking.addRecent(messagePass);
    expect(leaks(masking.redact(`550 ${transportPass} ${Buffer.from(transportPass).toString("base64")}`))).toEqual([]);
  });

  it("nor does a login's redactor while that login runs", () => {
    const masking = new Masking();
    masking.addLasting(transportPass);
    const login = masking.begin();
    login.addSecret(messagePass);
    expect(leaks(masking.redact(login.redact(`535 ${transportPass} ${Buffer.from(transportPass).toString("base64")}`)))).toEqual([]);
    masking.end(login);
  });
});
