import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { messageIdOf, prepareMessage } from "../src/message.js";

const envelope = { from: "a@example.com", to: ["b@example.com"] };

describe("Message-ID of an in-memory message with an envelope (the byte-scan path)", () => {
  it("equals the header parser's value for any Message-ID field, folded or not", () => {
    const piece = fc.constantFrom("<", ">", "@", "a", "b.c", " ", "\t", "\r\n ", "\n\t", "\r", "é", "x");
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom("Message-ID", "message-id", "MESSAGE-ID"), fc.constantFrom("\r\n", "\n"), (parts, name, eol) => {
        const head = `Subject: s${eol}${name}:${parts.join("")}${eol}From: x@y${eol}`;
        const message = `${head}${eol}body${eol}`;
        expect(prepareMessage(message, envelope).messageId).toBe(messageIdOf(head));
      }),
      { numRuns: 2000 },
    );
  });

  it("finds the field wherever it is in the header, never in the body, also past the first 4 KiB", () => {
    const line = fc.constantFrom("Subject: s", "Message-ID: <one@a>", "message-id: <two@b>", "X-Pad: " + "p".repeat(1500), "To: x@y", "\tfolded");
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.constantFrom("\r\n", "\n"), fc.boolean(), (lines, eol, idInBody) => {
        const head = lines.length ? `${lines.join(eol)}${eol}` : "";
        const message = `${head}${eol}body${eol}${idInBody ? `Message-ID: <body@c>${eol}` : ""}`;
        expect(prepareMessage(message, envelope).messageId).toBe(messageIdOf(head));
      }),
      { numRuns: 1000 },
    );
  });
});
