/**
 * The tuned engines (DJN short-exponent with a fixed-base table, native full-length), with and without their
 * worker-filled pool, against the reference decryption of paillier-bigint and the MDMS's own.
 */
import { PrivateKey, PublicKey } from 'paillier-bigint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../../gateway/config/schema.ts';
import { modPowNative } from '../../../gateway/encrypt/bigint.ts';
import { startEngine, type EngineHandle } from '../../../gateway/encrypt/engine-factory.ts';
import { FixedBaseTable } from '../../../gateway/encrypt/fixed-base.ts';
import { layoutFor, pack, unpack } from '../../../gateway/encrypt/packing.ts';
import { addCiphertexts } from '../../../gateway/encrypt/paillier.ts';
import { djnBase, randomExponent } from '../../../gateway/encrypt/randomizers.ts';
import { generatePaillier } from '../../../gateway/keys/generate.ts';
import type { PaillierPrivateKey } from '../../../gateway/keys/paillier-files.ts';
import { decrypt } from '../../../scripts/lib/mdms/decrypt.ts';
import { RELEASE_BOUNDS } from '../../helpers/packing.ts';

type EncryptionConfig = ReturnType<typeof ConfigSchema.parse>['encryption'];
const encryption = (over: Partial<EncryptionConfig>): EncryptionConfig =>
  ConfigSchema.shape.encryption.parse(over);

let key: PaillierPrivateKey;
let reference: PrivateKey;

beforeAll(async () => {
  key = await generatePaillier(2048);
  reference = new PrivateKey(
    key.lambda,
    key.mu,
    new PublicKey(key.publicKey.n, key.publicKey.n + 1n),
    key.p,
    key.q,
  );
});

describe('FixedBaseTable', () => {
  it('computes the same powers as OpenSSL, at the edges and at random', () => {
    const hs = djnBase(key.publicKey);
    const table = new FixedBaseTable(hs, key.publicKey.n2, 224, 7);
    const exponents = [
      0n,
      1n,
      2n,
      (1n << 224n) - 1n,
      1n << 223n,
      ...Array.from({ length: 20 }, () => randomExponent(224)),
    ];
    for (const e of exponents) expect(table.pow(e)).toBe(modPowNative(hs, e, key.publicKey.n2));
    expect(() => table.pow(1n << 224n)).toThrow(RangeError);
    expect(table.bytes).toBe(Math.ceil(224 / 7) * 128 * 512);
  });
});

const variants: [string, Partial<EncryptionConfig>][] = [
  ['djn with a worker pool', { engine: 'djn', poolSize: 256 }],
  ['djn without a pool', { engine: 'djn', poolSize: 0, windowBits: 6 }],
  ['native with a worker pool', { engine: 'native', poolSize: 64 }],
  ['paillier-bigint', { engine: 'paillier-bigint' }],
];

describe.each(variants)('engine: %s', (_name, cfg) => {
  let handle: EngineHandle;
  beforeAll(async () => {
    handle = await startEngine(encryption(cfg), key.publicKey);
  });
  afterAll(() => handle.stop());

  it('decrypts with paillier-bigint and with the MDMS, packed slots at their maximum included', () => {
    const layout = layoutFor({
      maxWhPerReading: 20_000,
      maxAddends: 3000,
      bands: ['peak', 'offpeak'],
      modulusBits: 2048,
      ...RELEASE_BOUNDS,
    });
    const max = (1n << BigInt(layout.slotBits)) - 1n;
    for (const slots of [
      [0n, 0n, 0n],
      [max, max, max],
      [12345n, 12345n, 0n],
    ]) {
      const c = handle.engine.encrypt(pack(layout, slots));
      expect(unpack(layout, reference.decrypt(c))).toEqual(slots);
      expect(unpack(layout, decrypt(key, c))).toEqual(slots);
    }
  });

  it('gives distinct ciphertexts for equal readings and sums homomorphically', () => {
    // A full-length rⁿ costs ~45 ms (native) or more (paillier-bigint): fewer of them say the same.
    const count = cfg.engine === 'djn' ? 1000 : cfg.engine === 'native' ? 100 : 50;
    const cs = Array.from({ length: count }, (_, i) => handle.engine.encrypt(BigInt(i % 7)));
    expect(new Set(cs).size).toBe(count);
    const want = Array.from({ length: count }, (_, i) => BigInt(i % 7)).reduce((a, b) => a + b, 0n);
    expect(decrypt(key, addCiphertexts(key.publicKey, cs))).toBe(want);
  });
});

describe('randomizer pool', () => {
  it('hands out thousands of distinct randomizers and falls back (counted) when it runs dry', async () => {
    const handle = await startEngine(encryption({ engine: 'djn', poolSize: 2000 }), key.publicKey);
    try {
      await handle.warm(2000);
      const cs = Array.from({ length: 2500 }, () => handle.engine.encrypt(0n));
      expect(new Set(cs).size).toBe(2500);
      const stats = handle.poolStats()!;
      expect(stats.served + stats.misses).toBe(2500);
      expect(stats.served).toBeGreaterThanOrEqual(2000);
      expect(stats.tableBytes).toBeGreaterThan(0);
      for (const c of cs.slice(-10)) expect(reference.decrypt(c)).toBe(0n);
    } finally {
      await handle.stop();
    }
  });
});

describe('CRT decryption (MDMS)', () => {
  it('agrees with paillier-bigint and the definition on random and extreme plaintexts', async () => {
    const { CrtDecryptor } = await import('../../../scripts/lib/mdms/decrypt.ts');
    const crt = new CrtDecryptor(key);
    const handle = await startEngine(encryption({ engine: 'native', poolSize: 0 }), key.publicKey);
    const n = key.publicKey.n;
    for (const m of [0n, 1n, n - 1n, n / 2n, ...Array.from({ length: 20 }, () => randomExponent(2000))]) {
      const c = handle.engine.encrypt(m);
      expect(crt.decrypt(c)).toBe(m);
      expect(crt.decrypt(c)).toBe(reference.decrypt(c));
      expect(crt.decrypt(c)).toBe(decrypt(key, c));
    }
    expect(() => crt.decrypt(key.publicKey.n2)).toThrow(/out of range/);
    expect(() => crt.decrypt(key.p * 7n)).toThrow(/coprime/);
    await handle.stop();
  });
});
