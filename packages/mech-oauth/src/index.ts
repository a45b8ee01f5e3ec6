/**
 * @saslkit/mech-oauth: the OAuth 2.0 bearer-token SASL mechanisms, client and server halves:
 * OAUTHBEARER (RFC 7628) and XOAUTH2 (Google, Microsoft), which share one state machine and one
 * JSON error codec, the way @saslkit/mech-scram holds all SCRAM variants.
 */
export { TOKEN, TOKEN_PROVIDER, type TokenProvider, type TokenVerdict } from "./credentials.js";
export { OAuthBearerClient, OAuthBearerServer, oauthBearer, registerOAuthBearer } from "./oauthbearer.js";
export { XOAuth2Client, XOAuth2Server, registerXOAuth2, xoauth2 } from "./xoauth2.js";
