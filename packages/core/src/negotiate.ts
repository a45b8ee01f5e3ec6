/**
 * Negotiation: from what the server advertises, the credentials and the channel, choose the
 * strongest usable mechanism, and say why every other one was not chosen.
 *
 * Rules, in order, for each installed mechanism the server offers:
 * 1. `exclude` removes it; `force` (one name) or `order` (a list) keeps only the names listed.
 * 2. `explicitOnly` mechanisms are chosen only when listed in `force` or `order`, or when their
 *    `autoSelect` check says the context implies them.
 * 3. Credentials the provider `needs` must be present.
 * 4. A mechanism that sends a secret in clear (`security.sendsSecretInClear`) is refused on a
 *    channel without TLS unless `cleartextRefusal` allows it: `"loopback"` (default) allows it
 *    only to a loopback peer, `"never"` never, `"allow"` always.
 * 5. The provider's own `usable` check (binding data present, and the like).
 * Candidates are ordered by `order` when given, else by descending priority (never by
 * registration order or by the server's order).
 */
import { Credentials, type CredentialKey, type CredentialsInput } from "./credentials.js";
import { NoMechanismError, type AttemptRecord, type Refusal } from "./errors.js";
import type { ChannelInfo, ClientContext, MechanismProvider } from "./mechanism.js";
import type { CredentialPreparation } from "./prepare.js";
import { MechanismRegistry, normalizeMechanismName, type MechanismSource } from "./registry.js";

/** Cleartext-secret policy: see rule 4 above. */
export type CleartextPolicy = "loopback" | "never" | "allow";

/**
 * The cleartext rule, written once for negotiation, the protocol logins (IMAP LOGIN, POP3
 * USER/PASS and APOP) and embedded servers: may a secret cross `channel` in clear under `policy`
 * (default `"loopback"`)? Returns undefined when it may, else the clause saying why not, to
 * follow "<what> sends the secret in clear and ": "the channel is not TLS to a non-loopback
 * host" or "the channel is not TLS (strict policy)".
 */
export function cleartextRefusal(policy: CleartextPolicy | undefined, channel: Pick<ChannelInfo, "secure" | "loopback">): string | undefined {
  if (channel.secure) return undefined;
  const cleartext = policy ?? "loopback";
  if (cleartext === "allow" || (cleartext === "loopback" && channel.loopback === true)) return undefined;
  return `the channel is not TLS${cleartext === "never" ? " (strict policy)" : " to a non-loopback host"}`;
}

/** What the caller may say about the choice. */
export interface NegotiationPolicy {
  /** Use exactly this mechanism (it must still be offered and usable). */
  readonly force?: string;
  /** Use only these mechanisms, in this order of preference. */
  readonly order?: readonly string[];
  /** Never use these. */
  readonly exclude?: readonly string[];
  /** Whether secret-revealing mechanisms may run without TLS. Default `"loopback"`. */
  readonly cleartext?: CleartextPolicy;
}

export interface NegotiationInput {
  /** Mechanism names the server advertised, already tokenised by the adapter (any case). */
  readonly offered: readonly string[];
  readonly credentials: CredentialsInput | Credentials;
  readonly channel: ChannelInfo;
  readonly policy?: NegotiationPolicy;
  /** Credential preparation for mechanisms that leave it open (`ClientContext.prepare`). Default `"none"`. */
  readonly prepare?: CredentialPreparation;
  /** Per-mechanism options handed to factories (`{ family: { ... } }`), opaque to core. */
  readonly options?: Readonly<Record<string, unknown>>;
}

/** The negotiator's full answer. `candidates` may be empty: `requireCandidate` throws then. */
export interface Negotiation {
  /** Offered names, upper case, duplicates and invalid tokens removed, in the server's order. */
  readonly offered: readonly string[];
  /** Installed names, by priority. */
  readonly installed: readonly string[];
  /** Usable providers, best first. */
  readonly candidates: readonly MechanismProvider[];
  readonly refused: readonly Refusal[];
  /** The context factories receive (credentials wrapped, offered list, options). */
  readonly context: ClientContext;
}

const NOTHING: readonly string[] = [];
const NO_POLICY: NegotiationPolicy = {};
/** The options of a plan given none: one frozen object, not a new one per connection. */
const NO_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The caller's name rules (rule 1), read once per plan: names excluded, and the names listed by
 * `force` or `order` (undefined when neither). A `force` that is not a SASL name refuses itself
 * and lists nothing, so every mechanism is refused as not forced.
 */
interface NameRules {
  readonly excluded: readonly string[];
  readonly forced: string | undefined;
  readonly listed: readonly string[] | undefined;
}

function nameRules(policy: NegotiationPolicy, refused: Refusal[]): NameRules {
  const excluded = policy.exclude ? normalisedNames(policy.exclude) : NOTHING;
  if (policy.force === undefined) return { excluded, forced: undefined, listed: policy.order ? normalisedNames(policy.order) : undefined };
  const forced = normalizeMechanismName(policy.force);
  if (forced === undefined) {
    // Nothing is listed, so nothing is chosen: a mistyped force must not fall back to any mechanism.
    refused.push({ mechanism: policy.force, reason: "not-installed", explanation: `"${policy.force}" is not a SASL mechanism name` });
    return { excluded, forced: policy.force, listed: NOTHING };
  }
  return { excluded, forced, listed: [forced] };
}

/**
 * The normalised form of frozen offered lists (an SMTP client's parsed EHLO reply is frozen and
 * shared by every connection to that server): a frozen list cannot change, so its answer cannot
 * go stale. Held weakly: a list no longer used is let go.
 */
const normalisedLists = new WeakMap<readonly string[], readonly string[]>();

/** Offered names, upper case, duplicates and invalid tokens removed, in the server's order. */
function offeredNames(raw: readonly string[]): readonly string[] {
  if (!Object.isFrozen(raw)) return normalisedNames(raw);
  let names = normalisedLists.get(raw);
  if (names === undefined) {
    const fresh = normalisedNames(raw);
    // Already normalised (what SMTP's parser gives): the frozen list itself.
    names = fresh.length === raw.length && fresh.every((n, i) => n === raw[i]) ? raw : Object.freeze(fresh);
    normalisedLists.set(raw, names);
  }
  return names;
}

/** The valid names of a list (offered, or a policy's), upper case, duplicates removed, in the list's order. */
function normalisedNames(raw: readonly string[]): string[] {
  const offered: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const n = normalizeMechanismName(raw[i] as string);
    if (n !== undefined && !offered.includes(n)) offered.push(n);
  }
  return offered;
}

/** Rules 1 to 5 for one installed, offered mechanism: undefined when usable, else why not. */
function refusalOf(p: MechanismProvider, rules: NameRules, context: ClientContext, cleartextPolicy: CleartextPolicy | undefined): Refusal | undefined {
  const name = p.name;
  if (rules.excluded.length !== 0 && rules.excluded.includes(name)) return refusal(name, "excluded", "excluded by the caller");
  const listed = rules.listed;
  if (listed !== undefined && !listed.includes(name)) return refusal(name, "not-forced", rules.forced !== undefined ? `the caller forced ${rules.forced}` : "not in the caller's list");
  if (p.explicitOnly && listed === undefined) {
    const why = p.autoSelect ? p.autoSelect(context) : "";
    if (why !== undefined) return refusal(name, "explicit-only", `used only when the caller asks for it by name${why ? ` or ${why}` : ""}`);
  }
  const missing = missingCredentials(p.needs, context.credentials);
  if (missing !== undefined) return refusal(name, "missing-credentials", `needs ${missing}, which was not given`);
  if (p.security.sendsSecretInClear) {
    const cleartext = cleartextRefusal(cleartextPolicy, context.channel);
    if (cleartext !== undefined) return refusal(name, "cleartext-password", `sends the secret in clear and ${cleartext}`);
  }
  const why = p.usable?.(context);
  return why === undefined ? undefined : refusal(name, "unusable", why);
}

function refusal(mechanism: string, reason: Refusal["reason"], explanation: string): Refusal {
  return { mechanism, reason, explanation };
}

/** The names of the credentials in `needs` that were not given ("a and b"), or undefined. */
function missingCredentials(needs: readonly CredentialKey<unknown>[], credentials: Credentials): string | undefined {
  let missing: string | undefined;
  for (let i = 0; i < needs.length; i++) {
    const k = needs[i] as CredentialKey<unknown>;
    if (!credentials.has(k)) missing = missing === undefined ? k.name : `${missing} and ${k.name}`;
  }
  return missing;
}

/** Plans a negotiation without throwing (used by `saslkit probe` to explain a choice). */
export function planNegotiation(source: MechanismSource | undefined, input: NegotiationInput): Negotiation {
  const registry = MechanismRegistry.from(source);
  const policy = input.policy ?? NO_POLICY;
  const offered = offeredNames(input.offered);
  const context: { -readonly [K in keyof ClientContext]: ClientContext[K] } = { credentials: Credentials.from(input.credentials), channel: input.channel, offered, options: input.options ?? NO_OPTIONS };
  if (input.prepare) context.prepare = input.prepare;
  const refused: Refusal[] = [];
  const rules = nameRules(policy, refused);
  const usable: MechanismProvider[] = [];
  for (let i = 0; i < offered.length; i++) {
    const name = offered[i] as string;
    const p = registry.get(name);
    const why = p === undefined ? refusal(name, "not-installed", "no mechanism package for it is registered") : refusalOf(p, rules, context, policy.cleartext);
    if (why === undefined) usable.push(p as MechanismProvider);
    else refused.push(why);
  }
  const listed = rules.listed;
  if (listed !== undefined) {
    for (let i = 0; i < listed.length; i++) {
      const n = listed[i] as string;
      if (!offered.includes(n)) refused.push(refusal(n, "not-offered", "the server does not offer it"));
    }
  }
  if (usable.length > 1) usable.sort(listed === undefined ? byPriority : (a, b) => listed.indexOf(a.name) - listed.indexOf(b.name) || byPriority(a, b));
  return { offered, installed: registry.names(), candidates: usable, refused, context };
}

/** Descending priority, ties by name (never by registration order or by the server's order). */
function byPriority(a: MechanismProvider, b: MechanismProvider): number {
  return b.priority - a.priority || (a.name < b.name ? -1 : 1);
}

/** Plans a negotiation and throws `NoMechanismError` (what was offered, installed, refused) when nothing fits. */
export function negotiate(source: MechanismSource | undefined, input: NegotiationInput): Negotiation {
  const plan = planNegotiation(source, input);
  requireCandidate(plan);
  return plan;
}

export function requireCandidate(plan: Negotiation): MechanismProvider {
  const first = plan.candidates[0];
  if (!first) throw new NoMechanismError(plan.offered, plan.installed, plan.refused);
  return first;
}

/**
 * What happened in one authentication, in the same shape for every adapter: what the server
 * offered, what was installed, the plan, each refusal with its reason, every attempt with its
 * error, and the SASL mechanism that succeeded. A protocol login (IMAP LOGIN, POP3 USER or APOP)
 * is reported in `login`, never in `chosen`.
 */
export interface NegotiationRecord {
  /** SASL names the server offered (upper case). */
  readonly offered: readonly string[];
  readonly installed: readonly string[];
  /** The plan, best first. */
  readonly candidates: readonly string[];
  /** Each refusal with its reason and explanation. */
  readonly refused: readonly Refusal[];
  /** Every mechanism tried, with its error when it failed. */
  readonly attempts: readonly AttemptRecord[];
  /** The SASL mechanism that succeeded. */
  readonly chosen: string | undefined;
  /** A protocol login the adapter ran instead of (or after) SASL. */
  readonly login?: { readonly command: "LOGIN" | "USER" | "APOP"; readonly ok: boolean };
}

/** A provider's name (one function for every record, not a closure per record). */
const nameOf = (p: MechanismProvider): string => p.name;

/**
 * Builds the `NegotiationRecord` of a plan, the attempts made (`AuthenticationResult.attempts` or
 * `SaslError.attempts`), the mechanism that succeeded, and the protocol login when one ran.
 */
export function negotiationRecord(
  plan: Pick<Negotiation, "offered" | "installed" | "candidates" | "refused">,
  attempts: readonly AttemptRecord[] = [],
  chosen?: string,
  login?: NegotiationRecord["login"],
): NegotiationRecord {
  return {
    offered: [...plan.offered],
    installed: [...plan.installed],
    candidates: plan.candidates.map(nameOf),
    refused: [...plan.refused],
    attempts: [...attempts],
    chosen,
    ...(login ? { login } : {}),
  };
}
