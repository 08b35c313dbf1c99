/**
 * X25519 and Ed25519 public keys as their 32 raw bytes in base64url (RFC 8037's JWK "x"): the form they travel
 * in on the wire and are stored in, short enough to read aloud and to hash into a pseudonym.
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { GatewayError } from '../errors.ts';

export type OkpCurve = 'X25519' | 'Ed25519';

const RAW_KEY = /^[A-Za-z0-9_-]{43}$/;

export function rawPublicKey(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('not an OKP key');
  return jwk.x;
}

/**
 * The Ed25519 points of small order (1, 2, 4, 8), canonical and not, with the sign bit cleared (as libsodium's
 * `has_small_order` lists them). Any signature "verifies" under such a key for a share of all messages (the
 * identity: for every message), so it proves nothing: refused.
 */
const ED25519_SMALL_ORDER = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);

export function publicKeyFromRaw(x: string, crv: OkpCurve): KeyObject {
  if (!RAW_KEY.test(x)) throw new GatewayError('MESSAGE_MALFORMED', `not a raw ${crv} public key`);
  const bytes = Buffer.from(x, 'base64url');
  bytes[31] = bytes[31]! & 0x7f;
  if (crv === 'Ed25519' && ED25519_SMALL_ORDER.has(bytes.toString('hex'))) {
    throw new GatewayError('MESSAGE_MALFORMED', 'an Ed25519 key of small order proves nothing');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'OKP', crv, x }, format: 'jwk' });
  } catch (cause) {
    throw new GatewayError('MESSAGE_MALFORMED', `not a raw ${crv} public key`, { cause });
  }
  // An X25519 key of small order gives an all-zero shared secret, which OpenSSL refuses: nothing sealed to it
  // could ever be opened. Found by one trial agreement.
  if (crv === 'X25519') {
    try {
      diffieHellman({ privateKey: generateKeyPairSync('x25519').privateKey, publicKey: key });
    } catch (cause) {
      throw new GatewayError('MESSAGE_MALFORMED', 'an X25519 key of small order cannot be sealed to', {
        cause,
      });
    }
  }
  return key;
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
