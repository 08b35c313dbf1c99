/**
 * A split key and an authority on real parts, for the authority and MDMS tests: a 2048-bit key split with the
 * real ceremony code, the gateway's own encryption engine, gateway-signed batches and a real SQLite log file.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { noisePlan, rationalText } from '../../gateway/aggregate/noise-plan.ts';
import { NativeEngine } from '../../gateway/encrypt/engine.ts';
import { fromBytes, toHex } from '../../gateway/encrypt/bigint.ts';
import {
  layoutFor,
  MASK_MARGIN_BITS,
  packReading,
  releaseBits,
  type PackingLayout,
} from '../../gateway/encrypt/packing.ts';
import { addCiphertexts } from '../../gateway/encrypt/paillier.ts';
import { generatePaillier } from '../../gateway/keys/generate.ts';
import { signEnvelope, type Sealed } from '../../gateway/protocol/envelope.ts';
import type {
  AggregateRecordMsg,
  BandsBillRecordMsg,
  BatchBodyMsg,
} from '../../gateway/protocol/messages.ts';
import { Authority } from '../../scripts/lib/authority/authority.ts';
import type { AuthorityPolicy } from '../../scripts/lib/authority/policy.ts';
import { openAuthorityDb, TransparencyLog } from '../../scripts/lib/authority/transparency-log.ts';
import { splitKey, type KeyShare } from '../../scripts/lib/split-key/shares.ts';

export const SPLIT_GATEWAY = 'gw-split';
const MAX_METERS = 50;
/** The rig's noise, planned as the gateway plans it (ε = 1000 per day, 48 releases a day, clip 2 kWh). */
export const splitNoise = noisePlan({
  epsilonPerDay: 1000,
  deltaPerDay: 1e-6,
  clipWh: 2000,
  intervalMinutes: 30,
});
/** The layout a gateway with two bands computes for a 2048-bit key (gateway/encrypt/packing.ts). */
export const splitLayout: PackingLayout = layoutFor({
  maxWhPerReading: 20_000,
  maxAddends: 48 * 31 * 2,
  bands: ['peak', 'offpeak'],
  modulusBits: 2048,
  clipWh: splitNoise.clipWh,
  maxMetersPerRelease: MAX_METERS,
  noiseBound: splitNoise.bound,
});
/** The η the rig's releases carry: fixed, so a test knows the noisy value it must read (peak + offpeak + η). */
export const SPLIT_ETA = -17n;

type Pair = { privateKey: KeyObject; publicKey: KeyObject };

export interface SplitRig {
  supplier: KeyShare;
  authorityShare: KeyShare;
  engine: NativeEngine;
  gateway: Pair;
  mdms: Pair;
  authoritySigning: Pair;
  dbFile: string;
  log: TransparencyLog;
  authority: Authority;
  /** The authority's clock, for closing billing periods. */
  clock: { now: number };
  batch(records: unknown[], signer?: Pair): Sealed;
  aggregate(id: string, meters: number, peak: number, offpeak: number, k?: number): AggregateRecordMsg;
  /** A bands bill of `peak` and `offpeak` Wh for [start, end). */
  bill(id: string, start: string, end: string, peak?: number, offpeak?: number): BandsBillRecordMsg;
}

/** scripts/authority's default stance: every aggregate must state its noise. */
export const defaultPolicy: AuthorityPolicy = { minK: 5, minBillingDays: 1, requireNoise: {} };

/** A uniform value of `bits` bits. */
function random(bits: number): bigint {
  const bytes = Math.ceil(bits / 8);
  return fromBytes(randomBytes(bytes)) >> BigInt(bytes * 8 - bits);
}

export async function makeSplitRig(policy: AuthorityPolicy = defaultPolicy): Promise<SplitRig> {
  const whole = await generatePaillier(2048);
  const { supplier, authority: authorityShare } = splitKey(whole);
  const engine = new NativeEngine(whole.publicKey);
  const gateway = generateKeyPairSync('ed25519');
  const mdms = generateKeyPairSync('ed25519');
  const authoritySigning = generateKeyPairSync('ed25519');
  const dbFile = path.join(mkdtempSync(path.join(tmpdir(), 'authority-')), 'authority.sqlite');
  const log = new TransparencyLog(openAuthorityDb(dbFile));
  const clock = { now: Date.parse('2026-02-01T00:00:00Z') };
  const authority = new Authority({
    share: authorityShare,
    trust: new Map([[SPLIT_GATEWAY, gateway.publicKey]]),
    requesters: [mdms.publicKey],
    policy,
    log,
    now: () => clock.now,
  });
  /** One peak and one off-peak reading, each encrypted as the gateway encrypts a reading. */
  const readings = (peak: number, offpeak: number) => [
    engine.encrypt(packReading(splitLayout, BigInt(peak), 0)),
    engine.encrypt(packReading(splitLayout, BigInt(offpeak), 1)),
  ];
  let seq = 0;
  return {
    supplier,
    authorityShare,
    engine,
    gateway,
    mdms,
    authoritySigning,
    dbFile,
    log,
    authority,
    clock,
    batch(records, signer = gateway) {
      seq++;
      const body = {
        v: 1,
        type: 'batch',
        gateway: SPLIT_GATEWAY,
        batchId: `${SPLIT_GATEWAY}-${seq}`,
        seq,
        createdAt: '2026-01-01T00:00:00Z',
        records: records as BatchBodyMsg['records'],
      };
      return signEnvelope(body, signer.privateKey, signer.publicKey);
    },
    aggregate(id, meters, peak, offpeak, k = 5) {
      // As the gateway's aggregator: the readings' sum times E(M + 2^s·(B + η)), M masking the slots.
      const mask = random(splitLayout.slotBits * splitLayout.slots.length + MASK_MARGIN_BITS);
      const shifted = (splitNoise.bound + SPLIT_ETA) << BigInt(splitLayout.releaseShift);
      const c = addCiphertexts(whole.publicKey, [...readings(peak, offpeak), engine.encrypt(mask + shifted)]);
      return {
        kind: 'aggregate',
        v: 2,
        id,
        neighbourhood: 'north',
        intervalStart: '2012-10-10T00:00:00Z',
        intervalEnd: '2012-10-10T00:30:00Z',
        meters,
        k,
        release: {
          shift: splitLayout.releaseShift,
          bits: releaseBits({
            clipWh: splitLayout.clipWh,
            maxMetersPerRelease: MAX_METERS,
            noiseBound: splitNoise.bound,
          }),
        },
        noise: {
          mechanism: splitNoise.mechanism,
          sigma2: rationalText(splitNoise.sigma2),
          offset: splitNoise.bound.toString(),
          clipWh: splitNoise.clipWh,
          epsilonPerDay: splitNoise.epsilonPerDay,
          deltaPerDay: splitNoise.deltaPerDay,
          releasesPerDay: splitNoise.releasesPerDay,
        },
        ciphertext: toHex(c),
      };
    },
    bill(id, start, end, peak = 10, offpeak = 20) {
      // As the billing closer: the readings' sum times E(2^s·M'), M' masking the release field.
      const mask = random(splitLayout.billMaskBits) << BigInt(splitLayout.releaseShift);
      const c = addCiphertexts(whole.publicKey, [...readings(peak, offpeak), engine.encrypt(mask)]);
      return {
        kind: 'bill',
        id,
        account: 'acct-1',
        periodStart: start,
        periodEnd: end,
        intervals: 48,
        layout: { slotBits: splitLayout.slotBits, slots: [...splitLayout.slots] },
        ciphertext: toHex(c),
      };
    },
  };
}
