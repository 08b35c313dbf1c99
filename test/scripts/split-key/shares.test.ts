/**
 * The split key on real ciphertexts from the gateway's own engine: both shares together decrypt exactly; either
 * share alone yields no plaintext (its "decryption" is not of the form 1 + m·n and tells nothing about m).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { NativeEngine } from '../../../gateway/encrypt/engine.ts';
import { pack, releaseShiftOf } from '../../../gateway/encrypt/packing.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import { assertGenuinePlaintext, shapeOf } from '../../../scripts/lib/split-key/plaintext-check.ts';
import { parseShare, shareJson } from '../../../scripts/lib/split-key/share-files.ts';
import {
  combinePartials,
  partialDecrypt,
  splitKey,
  type KeyShare,
} from '../../../scripts/lib/split-key/shares.ts';
import { expectCode } from '../../helpers/expect-code.ts';
import { splitLayout as layout } from '../../helpers/split-rig.ts';

describe('split Paillier key', () => {
  let whole: PaillierPrivateKey;
  let supplier: KeyShare;
  let authority: KeyShare;
  let engine: NativeEngine;
  const plaintexts = [0n, 1n, 1234n, pack(layout, [1234n, 1200n, 34n]), (1n << 89n) - 1n];

  beforeAll(async () => {
    whole = await generatePaillier(2048);
    ({ supplier, authority } = splitKey(whole));
    engine = new NativeEngine(whole.publicKey);
  });

  it('decrypts exactly with both shares, whatever the order', () => {
    for (const m of plaintexts) {
      const c = engine.encrypt(m);
      const s = partialDecrypt(supplier, c);
      const a = partialDecrypt(authority, c);
      expect(combinePartials(whole.publicKey, [s, a])).toBe(m);
      expect(combinePartials(whole.publicKey, [a, s])).toBe(m);
    }
  });

  it('opens nothing with one share alone', () => {
    const { n, n2 } = whole.publicKey;
    for (const share of [supplier, authority]) {
      for (const m of plaintexts) {
        const c = engine.encrypt(m);
        const alone = partialDecrypt(share, c);
        // Not a plaintext: a correct decryption is 1 + m·n, ≡ 1 (mod n).
        expect(alone % n).not.toBe(1n);
        expectCode('CIPHERTEXT_INVALID', () => combinePartials(whole.publicKey, [alone]));
        // Taken as one anyway, it gives nothing near m.
        expect(((alone - 1n) / n) % n).not.toBe(m);
        // Two encryptions of the same m give unrelated values: the randomness is not removed.
        expect(partialDecrypt(share, engine.encrypt(m))).not.toBe(alone);
        expect(alone).toBeLessThan(n2);
      }
    }
  });

  it('hides d: the authority share is 128 bits longer than n², the supplier share is the negative rest', () => {
    expect(authority.share.toString(2).length).toBeGreaterThan(whole.publicKey.bits * 2 + 100);
    expect(supplier.share).toBeLessThan(0n);
    const d = supplier.share + authority.share;
    expect(d % whole.lambda).toBe(0n);
    expect(d % whole.publicKey.n).toBe(1n);
  });

  it('round-trips share files and refuses a share of the other role or another key', () => {
    const text = shareJson(supplier);
    expect(text).not.toContain(whole.lambda.toString(16));
    expect(text).not.toContain(whole.p.toString(16));
    expect(parseShare(text, 'supplier', 'f').share).toBe(supplier.share);
    expectCode('KEY_FILE_INVALID', () => parseShare(text, 'authority', 'f'));
    const other = JSON.parse(text) as Record<string, string>;
    other.fingerprint = '0'.repeat(32);
    expectCode('KEY_FILE_INVALID', () => parseShare(JSON.stringify(other), 'supplier', 'f'));
  });

  it('tells a genuine combined plaintext from one combined with a wrong partial', () => {
    const m = pack(layout, [1234n, 1200n, 34n]);
    const c = engine.encrypt(m);
    const s = partialDecrypt(supplier, c);
    const bits = whole.publicKey.bits;
    // A bands bill: its slots, zeros up to the release shift, its masked release field above.
    const bill = m + (((1n << 200n) - 12345n) << BigInt(layout.releaseShift));
    const billShape = shapeOf({ layout });
    const billCipher = engine.encrypt(bill);
    assertGenuinePlaintext(
      combinePartials(whole.publicKey, [
        partialDecrypt(supplier, billCipher),
        partialDecrypt(authority, billCipher),
      ]),
      billShape,
      bits,
    );
    expect(releaseShiftOf(layout)).toBe(layout.releaseShift);
    expectCode('CIPHERTEXT_INVALID', () =>
      assertGenuinePlaintext(bill + (1n << BigInt(layout.releaseShift - 1)), billShape, bits),
    );
    const { n, n2 } = whole.publicKey;
    // The partial of another ciphertext does not even combine to a value ≡ 1 (mod n).
    const wrong = partialDecrypt(authority, engine.encrypt(m + 1n));
    expectCode('CIPHERTEXT_INVALID', () => combinePartials(whole.publicKey, [s, wrong]));
    // A partial shifted by (1+n)^δ combines, to m + δ: uniform δ sets the check bits.
    const delta = (n * 3n) / 7n;
    const shifted = (partialDecrypt(authority, c) * (1n + delta * n)) % n2;
    const x = combinePartials(whole.publicKey, [s, shifted]);
    expect(x).toBe((m + delta) % n);
    expectCode('CIPHERTEXT_INVALID', () => assertGenuinePlaintext(x, billShape, bits));
    // A noisy release (v2 aggregate): masked below the release field, anything there passes; zeros above it.
    const release = { shift: layout.releaseShift, bits: 40 };
    const noisy = (1n << 200n) + (12345n << BigInt(release.shift));
    assertGenuinePlaintext(noisy, shapeOf({ release }), bits);
    expectCode('CIPHERTEXT_INVALID', () =>
      assertGenuinePlaintext(
        noisy + (1n << BigInt(release.shift + release.bits)),
        shapeOf({ release }),
        bits,
      ),
    );
    expectCode('CIPHERTEXT_INVALID', () => assertGenuinePlaintext(x, shapeOf({ release }), bits));
    // A cost-only bill: masked above its guard bits, so only the guard bits are checked.
    const costBits = 60;
    const masked = 123_456n + (((1n << 1500n) - 12345n) << BigInt(costBits + 32));
    assertGenuinePlaintext(masked, shapeOf({ costBits }), bits);
    expectCode('CIPHERTEXT_INVALID', () =>
      assertGenuinePlaintext(masked + (1n << BigInt(costBits + 5)), shapeOf({ costBits }), bits),
    );
  });
});
