/**
 * What never reaches a log line: secrets, found by field name at any depth (a whole configuration object logged by
 * mistake included), and the credentials of URLs in any text (`mqtt://user:password@host`). pino's own path redaction needs
 * one wildcard path per depth and costs some ten times more per line at the depths a configuration has; this walk
 * copies only the objects on the way to a secret and leaves the caller's object untouched.
 */

/**
 * Field names whose value is a secret, or may be one: broker passwords, private keys and key material (a TLS
 * client key, a DSMR Smarty key), tokens, enrolment codes. `key` also hides key file paths: a price of caution.
 * The fields of private keys as the key files and JWKs hold them (`d` of an X25519/Ed25519 key; λ, μ, p and q of
 * the supplier's Paillier key) and the mask seed of a consent's open span are hidden too, should one of those
 * objects ever be logged whole (test/gateway/observe/redact-keys.test.ts).
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set([
  'password',
  'passphrase',
  'secret',
  'token',
  'authorization',
  'privateKey',
  'key',
  'authenticationKey',
  'decryptionKey',
  'enrolmentCode',
  'd',
  'lambda',
  'mu',
  'p',
  'q',
  'seed',
]);

export const CENSOR = '[redacted]';

/** Deeper than any configuration; beyond it a value is dropped rather than walked (and cycles end). */
const MAX_DEPTH = 10;

/** The user information of URLs within a text. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi;

/** `value` with every secret replaced by CENSOR; the same object when there is none. */
export function redactSecrets<T>(value: T): T {
  return walk(value, 0) as T;
}

function walk(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[too deep]';
  if (Array.isArray(value)) {
    const list = value as unknown[];
    let copy: unknown[] | undefined;
    list.forEach((item, i) => {
      const clean = walk(item, depth + 1);
      if (clean !== item) (copy ??= [...list])[i] = clean;
    });
    return copy ?? list;
  }
  // Errors, buffers, dates: pino's serializers render them; they hold no configuration.
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)
    return value;
  let copy: Record<string, unknown> | undefined;
  for (const [field, item] of Object.entries(value)) {
    const clean = cleanField(field, item, depth);
    if (clean !== item) (copy ??= { ...value })[field] = clean;
  }
  return copy ?? value;
}

function cleanField(field: string, value: unknown, depth: number): unknown {
  if (value === undefined) return value;
  if (SECRET_FIELDS.has(field)) return CENSOR;
  if (typeof value === 'string') {
    return value.includes('://') ? value.replace(URL_CREDENTIALS, `$1${CENSOR}@`) : value;
  }
  return walk(value, depth + 1);
}
