/**
 * @saslkit/mech-xoauth2: the XOAUTH2 SASL mechanism (Google, Microsoft), client and server halves.
 */
export { XOAuth2Client, XOAuth2Server, registerXOAuth2, xoauth2 } from "./xoauth2.js";
