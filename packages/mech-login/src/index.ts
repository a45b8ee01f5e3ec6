/**
 * @saslkit/mech-login: the obsolete LOGIN SASL mechanism (draft-murchison-sasl-login-00), client
 * and server halves. Prefer SCRAM, or PLAIN over TLS.
 */
export {
  LOGIN_MAX_CHALLENGE_BYTES,
  LOGIN_MAX_FIELD_OCTETS,
  LOGIN_PROMPTS,
  LoginClient,
  LoginClientState,
  LoginServer,
  LoginServerState,
  login,
  registerLogin,
  type LoginOptions,
} from "./login.js";
