/**
 * Sealing readings to a household: only its X25519 private key opens them, only for the stream and interval
 * they were sealed for; another household's key, the gateway's own keys and any tampering open nothing.
 */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { open, seal } from '../../../gateway/customer/seal.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const AAD = 'meterspace/v1 live 0123abcd 2024-01-01T00:00:00.000Z 2024-01-01T00:30:00.000Z';

describe('customer seal (X25519 + HKDF-SHA256 + AES-256-GCM)', () => {
  const household = generateCustomerKeys();
  const other = generateCustomerKeys();
  const recipient = () => generateKeyPairSync('x25519');

  it('opens with the household key and the same associated data, to the same bytes', () => {
    const sealed = seal(createPublicKey(household.sealingPrivate), Buffer.from('{"wh":1234}'), AAD);
    expect(open(household.sealingPrivate, sealed, AAD).toString()).toBe('{"wh":1234}');
  });

  it('two seals of the same reading differ (fresh ephemeral key and IV)', () => {
    const a = seal(createPublicKey(household.sealingPrivate), Buffer.from('x'), AAD);
    const b = seal(createPublicKey(household.sealingPrivate), Buffer.from('x'), AAD);
    expect(a).not.toBe(b);
  });

  it("refuses another household's key, an unrelated X25519 key, another stream or interval, and tampering", () => {
    const sealed = seal(createPublicKey(household.sealingPrivate), Buffer.from('{"wh":7}'), AAD);
    expectCode('SEAL_INVALID', () => open(other.sealingPrivate, sealed, AAD));
    expectCode('SEAL_INVALID', () => open(recipient().privateKey, sealed, AAD));
    expectCode('SEAL_INVALID', () =>
      open(household.sealingPrivate, sealed, AAD.replace('0123abcd', 'ffffffff')),
    );
    expectCode('SEAL_INVALID', () => open(household.sealingPrivate, sealed, AAD.replace('00:30', '01:00')));
    const bytes = Buffer.from(sealed, 'base64url');
    for (const i of [0, 33, 50, bytes.length - 1]) {
      const t = Buffer.from(bytes);
      t[i] = t[i]! ^ 1;
      expect(() => open(household.sealingPrivate, t.toString('base64url'), AAD)).toThrow();
    }
    expectCode('SEAL_INVALID', () => open(household.sealingPrivate, 'short', AAD));
    expectCode('SEAL_INVALID', () => open(household.sealingPrivate, `${sealed}!`, AAD));
  });
});
