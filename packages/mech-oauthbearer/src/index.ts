/**
 * @saslkit/mech-oauthbearer: the OAUTHBEARER SASL mechanism (RFC 7628), client and server halves.
 */
export { OAuthBearerClient, OAuthBearerServer, oauthBearer, registerOAuthBearer } from "./oauthbearer.js";
