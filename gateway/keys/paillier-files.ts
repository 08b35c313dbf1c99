/**
 * Paillier key files: JSON with big integers as lower-case hex strings (docs/protocol.md §Key files).
 * The private key's fields are those of `paillier-bigint`'s PrivateKey, so either side can use that library.
 */
import { GatewayError } from '../errors.ts';
import { bitLength, fromHex, toHex } from '../encrypt/bigint.ts';
import { publicKeyFromN, type PaillierPublicKey } from '../encrypt/paillier.ts';
import { readKeyFile, readSecretFile } from './files.ts';
import { assertKeyKind } from './key-kind.ts';

export interface PaillierPrivateKey {
  readonly publicKey: PaillierPublicKey;
  readonly lambda: bigint;
  readonly mu: bigint;
  readonly p: bigint;
  readonly q: bigint;
}

export function paillierPublicJson(key: PaillierPublicKey): string {
  return `${JSON.stringify(
    { kty: 'paillier-public', version: 1, bits: key.bits, n: toHex(key.n), g: toHex(key.n + 1n) },
    null,
    2,
  )}\n`;
}

export function paillierPrivateJson(key: PaillierPrivateKey): string {
  const pub = key.publicKey;
  const body = {
    kty: 'paillier-private',
    version: 1,
    bits: pub.bits,
    n: toHex(pub.n),
    g: toHex(pub.n + 1n),
    lambda: toHex(key.lambda),
    mu: toHex(key.mu),
    p: toHex(key.p),
    q: toHex(key.q),
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}

function field(obj: Record<string, unknown>, name: string, where: string): bigint {
  const v = obj[name];
  const parsed = typeof v === 'string' ? fromHex(v) : undefined;
  if (parsed === undefined)
    throw new GatewayError('KEY_FILE_INVALID', `${where}: "${name}" must be a hex string`);
  return parsed;
}

function parseJson(text: string, kty: string, where: string): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (cause) {
    throw new GatewayError('KEY_FILE_INVALID', `${where} is not JSON`, { cause });
  }
  if (!obj || typeof obj !== 'object' || (obj as { kty?: unknown }).kty !== kty) {
    throw new GatewayError('KEY_FILE_INVALID', `${where} is not a ${kty} key file`);
  }
  return obj as Record<string, unknown>;
}

export function parsePaillierPublic(text: string, where: string): PaillierPublicKey {
  const obj = parseJson(text, 'paillier-public', where);
  const n = field(obj, 'n', where);
  if (field(obj, 'g', where) !== n + 1n) {
    throw new GatewayError('KEY_FILE_INVALID', `${where}: only g = n + 1 is supported`);
  }
  if (bitLength(n) < 2048) throw new GatewayError('KEY_FILE_INVALID', `${where}: modulus below 2048 bits`);
  return publicKeyFromN(n);
}

export function parsePaillierPrivate(text: string, where: string): PaillierPrivateKey {
  const obj = parseJson(text, 'paillier-private', where);
  const n = field(obj, 'n', where);
  const p = field(obj, 'p', where);
  const q = field(obj, 'q', where);
  if (field(obj, 'g', where) !== n + 1n) {
    throw new GatewayError('KEY_FILE_INVALID', `${where}: only g = n + 1 is supported`);
  }
  if (p * q !== n) throw new GatewayError('KEY_FILE_INVALID', `${where}: p·q ≠ n`);
  const lambda = field(obj, 'lambda', where);
  const mu = field(obj, 'mu', where);
  // With g = n + 1, μ is λ⁻¹ mod n; anything else decrypts to wrong values without an error.
  if ((lambda * mu) % n !== 1n) throw new GatewayError('KEY_FILE_INVALID', `${where}: λ·μ ≢ 1 (mod n)`);
  return { publicKey: publicKeyFromN(n), lambda, mu, p, q };
}

export function loadPaillierPublic(file: string): PaillierPublicKey {
  const what = 'supplier Paillier public key';
  const text = readKeyFile(file, what);
  assertKeyKind(text, 'paillier-public', file, what);
  return parsePaillierPublic(text, file);
}

export function loadPaillierPrivate(file: string): PaillierPrivateKey {
  return parsePaillierPrivate(
    readSecretFile(file, 'supplier Paillier private key', 'paillier-private'),
    file,
  );
}
