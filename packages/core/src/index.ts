/**
 * @saslkit/core: the protocol-neutral SASL engine. It imports no mechanism and no protocol.
 */
export type {
  AuthIdentity,
  ChannelBinding,
  ChannelBindingType,
  ChannelInfo,
  ClientContext,
  FailureCode,
  MaybePromise,
  MechanismProvider,
  SaslExchange,
  SaslMechanism,
  SaslServerMechanism,
  SecurityProperties,
  ServerCallbacks,
  ServerContext,
  ServerEvent,
  ServerStep,
  UsabilityCheck,
} from "./mechanism.js";
export { AUTHZID, Credentials, PASSWORD, USERNAME, defineCredential, type CredentialKey, type CredentialOptions, type CredentialsInput, type SecretListener } from "./credentials.js";
export {
  NoMechanismError,
  SaslError,
  type AttemptRecord,
  type Refusal,
  type RefusalReason,
  type SaslErrorCode,
  type SaslErrorKind,
  type SaslErrorOptions,
  type ServerReplyInfo,
} from "./errors.js";
export { MechanismRegistry, SASL_MECHANISM, normalizeMechanismName, registerMechanism, type MechanismSource } from "./registry.js";
export {
  cleartextRefusal,
  negotiate,
  negotiationRecord,
  planNegotiation,
  requireCandidate,
  type CleartextPolicy,
  type Negotiation,
  type NegotiationInput,
  type NegotiationPolicy,
  type NegotiationRecord,
} from "./negotiate.js";
export { authenticate, runExchange, type AuthenticateOptions, type AuthenticationResult, type SessionLimits } from "./session.js";
export { allowsFallback } from "./fallback.js";
export { concatBytes, constantTimeEqual, decodeUtf8, splitBytes, utf8 } from "./bytes.js";
export { pairedExchange, type PairedExchange } from "./paired.js";
export { mayActAs } from "./authorize.js";
export { OneMessageClient, OneMessageServer, type ServerOutcome } from "./one-message.js";
export { CallGuard } from "./call-guard.js";
export { hasLoneSurrogate, readPassword, requirePassword, requireUsername, requireWellFormed } from "./credential-checks.js";
export { prepareCredential, saslprep, type CredentialPreparation, type SaslprepOptions } from "./prepare.js";
