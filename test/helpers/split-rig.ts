/**
 * A split key and an authority on real parts, for the authority and MDMS tests: a 2048-bit key split with the
 * real ceremony code, the gateway's own encryption engine, gateway-signed batches and a real SQLite log file.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NativeEngine } from '../../gateway/encrypt/engine.ts';
import { toHex } from '../../gateway/encrypt/bigint.ts';
import { pack } from '../../gateway/encrypt/packing.ts';
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
export const splitLayout = { slotBits: 30, slots: ['total', 'peak', 'offpeak'] };

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

export const defaultPolicy: AuthorityPolicy = { minK: 5, minBillingDays: 1 };

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
      const c = engine.encrypt(pack(splitLayout, [BigInt(peak + offpeak), BigInt(peak), BigInt(offpeak)]));
      return {
        kind: 'aggregate',
        id,
        neighbourhood: 'north',
        intervalStart: '2012-10-10T00:00:00Z',
        intervalEnd: '2012-10-10T00:30:00Z',
        meters,
        k,
        layout: splitLayout,
        ciphertext: toHex(c),
      };
    },
    bill(id, start, end, peak = 10, offpeak = 20) {
      const m = pack(splitLayout, [BigInt(peak + offpeak), BigInt(peak), BigInt(offpeak)]);
      return {
        kind: 'bill',
        id,
        account: 'acct-1',
        periodStart: start,
        periodEnd: end,
        intervals: 48,
        layout: splitLayout,
        ciphertext: toHex(engine.encrypt(m)),
      };
    },
  };
}
