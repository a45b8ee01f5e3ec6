/**
 * @saslkit/mech-login: the obsolete LOGIN SASL mechanism (draft-murchison-sasl-login-00), client
 * and server halves. Prefer SCRAM, or PLAIN over TLS.
 */
export { LoginClient, LoginServer, login, registerLogin, type LoginOptions } from "./login.js";
