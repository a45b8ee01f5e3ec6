/** The 4 KiB regex scan for a raw message's Message-ID (0e924c6). */
import { describe, expect, it } from "vitest";
import { prepareMessage } from "../src/message.js";

const envelope = { from: "a@example.com", to: ["b@example.com"] };

describe("a raw message's Message-ID", () => {
  it("a message whose header is empty (it starts with a bare LF) has none, even when its body starts with a Message-ID line", () => {
    expect(prepareMessage("\nMessage-ID: <body@c>\nbody\n", envelope).messageId).toBeUndefined();
    expect(prepareMessage(Buffer.from("\nMessage-ID: <body@c>\nbody\n"), envelope).messageId).toBeUndefined();
    expect(prepareMessage("\r\nMessage-ID: <body@c>\r\nbody\r\n", envelope).messageId).toBeUndefined();
  });
});
