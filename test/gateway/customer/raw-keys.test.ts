/**
 * Raw public keys from households' requests: keys of small order are refused — an Ed25519 one would let a forged
 * signature "verify" (the identity point: for every message), an X25519 one could never be sealed to.
 */
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { publicKeyFromRaw, rawPublicKey } from '../../../gateway/customer/raw-keys.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const SMALL_ORDER_ED25519 = [
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000000',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];
const withSign = (hex: string, sign: number) => {
  const b = Buffer.from(hex, 'hex');
  b[31] = b[31]! | sign;
  return b.toString('base64url');
};

describe('publicKeyFromRaw', () => {
  it('accepts ordinary keys of both curves', () => {
    for (const curve of ['ed25519', 'x25519'] as const) {
      const raw = rawPublicKey(generateKeyPairSync(curve as 'ed25519').publicKey);
      expect(rawPublicKey(publicKeyFromRaw(raw, curve === 'ed25519' ? 'Ed25519' : 'X25519'))).toBe(raw);
    }
  });

  it('refuses every Ed25519 point of small order, with either sign bit (forgeable signatures)', () => {
    // What such a key would allow: the signature R = identity, S = 0 verifies under the identity key for anything.
    const identityKey = {
      key: { kty: 'OKP', crv: 'Ed25519', x: withSign(SMALL_ORDER_ED25519[0]!, 0) },
      format: 'jwk',
    } as const;
    const forged = Buffer.concat([Buffer.from(SMALL_ORDER_ED25519[0]!, 'hex'), Buffer.alloc(32)]);
    expect(verify(null, randomBytes(16), identityKey, forged)).toBe(true);
    for (const hex of SMALL_ORDER_ED25519) {
      for (const sign of [0, 0x80])
        expectCode('MESSAGE_MALFORMED', () => publicKeyFromRaw(withSign(hex, sign), 'Ed25519'));
    }
  });

  it('refuses X25519 keys of small order (nothing sealed to them could be opened)', () => {
    for (const hex of ['00'.repeat(32), `01${'00'.repeat(31)}`, 'ec' + 'ff'.repeat(30) + '7f']) {
      expectCode('MESSAGE_MALFORMED', () =>
        publicKeyFromRaw(Buffer.from(hex, 'hex').toString('base64url'), 'X25519'),
      );
    }
  });
});
