/**
 * What `send` accepts: every body type is either sent as it is or refused before anything goes
 * out (never an empty message reported as sent), and the result names the Message-ID.
 */
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { startScriptedServer } from "@saslkit/test-kit";
import { SmtpClient, type Message } from "@saslkit/smtp";
import { MessageIdSniffer, messageIdOf, prepareMessage } from "../src/message.js";
import { failure, opts } from "./options.js";

const HELLO = "S: 220 mx\nC: EHLO client.example.org\nS: 250 mx\n";
const TX = "C: MAIL FROM:<a@example.com>*\nS: 250 ok\nC: RCPT TO:<b@example.com>\nS: 250 ok\nC: DATA\nS: 354 go\n!data\nS: 250 2.0.0 Ok: queued as 4XyZ\n";
const env = { from: "a@example.com", to: ["b@example.com"] };

async function sendOne(message: Message, envelope: typeof env | undefined = env) {
  const server = await startScriptedServer(`${HELLO}${TX}C: QUIT\nS: 221 bye\n`);
  const client = await SmtpClient.connect(opts(server, { mechanisms: [] }));
  const result = await client.send(message, envelope);
  await client.quit();
  await server.done();
  await server.close();
  const data = server.received.slice(server.received.indexOf("DATA") + 1, server.received.lastIndexOf("."));
  return { result, data };
}

async function refused(message: unknown, envelope: unknown = env): Promise<string> {
  const server = await startScriptedServer(`${HELLO}C: QUIT\nS: 221 bye\n`);
  const client = await SmtpClient.connect(opts(server, { mechanisms: [] }));
  const error = await failure(client.send(message as Message, envelope as typeof env));
  expect(error).toMatchObject({ code: "invalid-input" });
  await client.quit();
  await server.done(); // nothing but EHLO and QUIT reached the server
  await server.close();
  return error.message;
}

describe("send result: messageId", () => {
  it("a raw message in memory: read from its Message-ID header", async () => {
    const { result } = await sendOne("Message-ID: <raw.1@example.com>\r\nSubject: s\r\n\r\nbody\r\n");
    expect(result.messageId).toBe("<raw.1@example.com>");
    expect(result.queueId).toBe("4XyZ");
  });

  it("a raw message whose Message-ID is folded, in lower case, after other fields", async () => {
    const { result } = await sendOne("Subject: s\r\nmessage-id:\r\n <folded.2@example.com>\r\n\r\nbody\r\n");
    expect(result.messageId).toBe("<folded.2@example.com>");
  });

  it("a raw message without one: undefined (nothing is invented for a raw message)", async () => {
    const { result } = await sendOne("Subject: s\r\n\r\nMessage-ID: <in-body@example.com>\r\n");
    expect(result.messageId).toBeUndefined();
  });

  it("a raw stream: read from the header as it passes, split across chunks", async () => {
    const body = Readable.from(["Subject: s\r\nMess", "age-ID: <stre", "am.3@example.com>\r", "\n\r\nbody\r\n"].map((c) => Buffer.from(c)));
    const { result, data } = await sendOne(body);
    expect(result.messageId).toBe("<stream.3@example.com>");
    expect(data).toEqual(["Subject: s", "Message-ID: <stream.3@example.com>", "", "body"]);
  });

  it("a composed message: the Message-ID the composer generated, which is the one in the header sent", async () => {
    const { result, data } = await sendOne({ from: "a@example.com", to: "b@example.com", subject: "hi", text: "hello" }, undefined);
    expect(result.messageId).toMatch(/^<[^<>@\s]+@[^<>\s]+>$/);
    expect(data).toContain(`Message-ID: ${result.messageId}`);
  });

  it("a composed message with its own messageId keeps it", async () => {
    const { result } = await sendOne({ from: "a@example.com", to: "b@example.com", subject: "hi", text: "hello", messageId: "<mine.4@example.com>" }, undefined);
    expect(result.messageId).toBe("<mine.4@example.com>");
  });

  it("the sniffer stops at the end of the header and at MAX_HEADER_BYTES", () => {
    const sniffer = new MessageIdSniffer();
    sniffer.push(Buffer.from("Subject: s\r\n\r\nMessage-ID: <late@example.com>\r\n"));
    expect(sniffer.active).toBe(false);
    expect(sniffer.messageId).toBeUndefined();
    const long = new MessageIdSniffer();
    for (let i = 0; i < 2000 && long.active; i++) long.push(Buffer.alloc(1024, 0x61));
    expect(long.active).toBe(false);
    expect(messageIdOf("X: 1\r\nMessage-Id: <a@b>")).toBe("<a@b>");
  });
});

describe("message body types", () => {
  it("a web ReadableStream is sent as its bytes (converted, dot-stuffed)", async () => {
    const web = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("Subject: web\r\n\r\n.dot\r\n"));
        controller.enqueue(new TextEncoder().encode("end\r\n"));
        controller.close();
      },
    });
    const { data, result } = await sendOne(web);
    expect(data).toEqual(["Subject: web", "", "..dot", "end"]);
    expect(result.bytes).toBeGreaterThan(0);
  });

  it("a Readable of Uint8Array chunks (not Buffers) is dot-stuffed like Buffers", async () => {
    const { data } = await sendOne(Readable.from([new TextEncoder().encode("Subject: u\r\n\r\n.a\r\n")]));
    expect(data).toEqual(["Subject: u", "", "..a"]);
  });

  it("an ArrayBuffer is sent as its bytes", async () => {
    const bytes = new TextEncoder().encode("Subject: ab\r\n\r\nx\r\n");
    const { data } = await sendOne(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as unknown as Message);
    expect(data).toEqual(["Subject: ab", "", "x"]);
  });

  it("a plain object that is not a message ({ stream }, { body }) is refused, naming the key", async () => {
    expect(await refused({ stream: Readable.from(["x"]) })).toMatch(/"stream".*not a message field/);
    expect(await refused({ body: "Subject: x\r\n\r\nx" })).toMatch(/"body"/);
  });

  it("a web ReadableStream where MailComposer expects content is refused with a hint", async () => {
    const web = new ReadableStream({ start: (c) => c.close() });
    expect(await refused({ from: "a@example.com", to: "b@example.com", text: web }, undefined)).toMatch(/"text".*Readable\.fromWeb/);
  });

  it("values that are no message at all are refused: null, a number, a Map, an array", async () => {
    for (const value of [null, 42, new Map(), ["Subject: x"]]) expect(await refused(value)).toMatch(/must be|not a message/);
  });

  it("an envelope whose `to` is a string (not an array) is refused, not split into characters", async () => {
    expect(await refused("Subject: x\r\n\r\nx\r\n", { from: "a@example.com", to: "b@example.com" })).toMatch(/envelope/);
  });

  it("a stream yielding objects fails the send and closes the connection before the final dot", async () => {
    const server = await startScriptedServer(`${HELLO}${TX}`);
    const client = await SmtpClient.connect(opts(server, { mechanisms: [] }));
    const error = await failure(client.send(Readable.from([{ not: "bytes" }]), env));
    expect(error).toMatchObject({ phase: "data", code: "invalid-input" });
    expect(client.closed).toBe(true);
    expect(server.received).not.toContain(".");
    await server.close();
  });

  it("prepareMessage reads Message-ID and envelope from one linear header scan", () => {
    const prepared = prepareMessage("From: a@example.com\r\nTo: b@example.com, c@example.com\r\nMessage-ID: <p@x>\r\n\r\nbody\r\n");
    expect(prepared.envelope).toEqual({ from: "a@example.com", to: ["b@example.com", "c@example.com"] });
    expect(prepared.messageId).toBe("<p@x>");
  });
});
