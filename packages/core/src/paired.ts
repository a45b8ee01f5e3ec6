/**
 * An in-memory `SaslExchange` that feeds a client straight into a server half: no sockets,
 * no framing. Mechanism packages test client against server with it, and third-party mechanism
 * authors can too. The server's outcome is kept in `outcome` for assertions.
 */
import type { AuthIdentity, SaslExchange, SaslServerMechanism, ServerEvent, ServerStep } from "./mechanism.js";

export interface PairedExchange extends SaslExchange {
  /** What the server half concluded; undefined while the exchange runs. */
  readonly outcome: { readonly identity?: AuthIdentity; readonly failure?: string } | undefined;
  /** Every message the client sent (initial response first; null for "none"). */
  readonly sent: readonly (Uint8Array | null)[];
}

/**
 * Pairs a client with `server`. `name` checks the client starts the mechanism the server runs.
 * Success data from the server is delivered the way SMTP must (RFC 4954 has no success data):
 * as a last challenge, unless `successData: "inline"` asks for IMAP-style data with the OK.
 */
export function pairedExchange(server: SaslServerMechanism, options: { readonly successData?: "challenge" | "inline" } = {}): PairedExchange {
  let outcome: PairedExchange["outcome"];
  const sent: (Uint8Array | null)[] = [];
  let pendingSuccess: ServerStep | undefined;

  const toEvent = (step: ServerStep): ServerEvent => {
    switch (step.type) {
      case "challenge":
        return { type: "challenge", data: step.data };
      case "success":
        if (step.data && step.data.length && options.successData !== "inline") {
          pendingSuccess = step;
          return { type: "challenge", data: step.data };
        }
        outcome = { identity: step.identity };
        return { type: "success", data: step.data ?? null };
      case "failure":
        outcome = { failure: step.code };
        return {
          type: "failure",
          code: step.code === "invalid-response" ? "protocol-error" : step.code,
          reply: { status: "NO", text: step.message },
        };
    }
  };

  return {
    get outcome() {
      return outcome;
    },
    sent,
    async begin(mechanism, initialResponse) {
      if (mechanism !== server.name) throw new Error(`paired exchange: client started ${mechanism}, server runs ${server.name}`);
      sent.push(initialResponse);
      return toEvent(await server.start(initialResponse));
    },
    async respond(response) {
      sent.push(response);
      if (pendingSuccess?.type === "success") {
        const done = pendingSuccess;
        pendingSuccess = undefined;
        outcome = { identity: done.identity };
        return { type: "success", data: null };
      }
      return toEvent(await server.step(response));
    },
    async cancel() {
      outcome = { failure: "aborted" };
      return { type: "failure", code: "aborted", reply: { status: "NO", text: "Exchange cancelled" } };
    },
  };
}
