/**
 * X25519 and Ed25519 public keys as their 32 raw bytes in base64url (RFC 8037's JWK "x"): the form they travel
 * in on the wire and are stored in, short enough to read aloud and to hash into a pseudonym.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.ts';

export type OkpCurve = 'X25519' | 'Ed25519';

const RAW_KEY = /^[A-Za-z0-9_-]{43}$/;

export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an OKP key');
  return jwk.x;
}

export function publicKeyFromRaw(x: string, crv: OkpCurve): KeyObject {
  if (!RAW_KEY.test(x)) throw new GatewayError('MESSAGE_MALFORMED', `not a raw ${crv} public key`);
  try {
    return createPublicKey({ key: { kty: 'OKP', crv, x }, format: 'jwk' });
  } catch (cause) {
    throw new GatewayError('MESSAGE_MALFORMED', `not a raw ${crv} public key`, { cause });
  }
}

/** A private key from its 32 raw bytes and its public half (both base64url). */
export function privateKeyFromRaw(d: string, x: string, crv: OkpCurve): KeyObject {
  return createPrivateKey({ key: { kty: 'OKP', crv, d, x }, format: 'jwk' });
}

/** The raw private scalar/seed of an OKP private key, base64url. */
export function rawPrivateKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string') throw new TypeError('not an OKP private key');
  return jwk.d;
}
