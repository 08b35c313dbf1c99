/**
 * Neighbourhood aggregation (invariant 2). Once an interval has closed plus the grace period, the ciphertexts of
 * the meters that reported in a neighbourhood are multiplied into one: the encrypted sum. It is released only if
 * at least k distinct meters contributed; otherwise a suppression (no ciphertext, no count) is reported. Either
 * way the group is decided exactly once: later readings of it go to billing only.
 *
 * A release carries differential-privacy noise (docs/privacy.md §Noise): the sum is multiplied by a fresh
 * encryption of M + 2^s·(B + η), η drawn here from the discrete Gaussian of the noise plan, M uniform over
 * [0, 2^(L + 128)) so that the exact slots below the release field are statistically hidden. η is drawn once, at
 * decide time, and lives only until it is encrypted: the record in the outbox is what every re-send sends, so the
 * MDMS can never see a second draw to average with the first.
 */
import type { BufferStore } from '../buffer/buffer.ts';
import type { Group } from '../buffer/readings-store.ts';
import { fromBytes, toHex } from '../encrypt/bigint.ts';
import { IntegerSampler } from '../encrypt/discrete-gaussian.ts';
import { MASK_MARGIN_BITS, releaseBits, type PackingLayout } from '../encrypt/packing.ts';
import { addCiphertexts, type PaillierPublicKey } from '../encrypt/paillier.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { AggregateRecordMsg, SuppressedRecordMsg } from '../protocol/messages.ts';
import { isoUtc } from '../time/zoned.ts';
import { rationalText, type NoisePlan } from './noise-plan.ts';

export interface NeighbourhoodAggregatorOptions {
  k: number;
  intervalMs: number;
  graceMs: number;
  layout: PackingLayout;
  noise: NoisePlan;
  /** encryption.maxMetersPerNeighbourhood: sizes the release field. */
  maxMetersPerRelease: number;
}

export class NeighbourhoodAggregator {
  constructor(
    private opts: NeighbourhoodAggregatorOptions,
    private readonly key: PaillierPublicKey,
    /** A fresh Paillier encryption (the engine's). */
    private readonly encrypt: (m: bigint) => bigint,
    private readonly buffer: BufferStore,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** node:crypto's CSPRNG in the gateway; tests inject a seeded source. */
    private readonly sampler = new IntegerSampler(),
  ) {}

  /** k from now on (remote configuration; never below privacy.kFloor, which the configuration rules check). */
  setK(k: number): void {
    this.opts = { ...this.opts, k };
  }

  /** The noise from now on (remote configuration; never above the local ceilings, which the rules check). */
  setNoise(noise: NoisePlan): void {
    this.opts = { ...this.opts, noise };
  }

  /** Decides every group whose interval ended at least the grace period before `now`. Returns how many. */
  run(now: number): number {
    const { intervalMs, graceMs } = this.opts;
    const groups = this.buffer.readings.due(now - graceMs - intervalMs);
    for (const group of groups) this.decide(group, now);
    return groups.length;
  }

  private decide(group: Group, now: number): void {
    const { k, intervalMs } = this.opts;
    const rows = this.buffer.readings.ciphertexts(group);
    const meters = new Set(rows.map((r) => r.meterId)).size;
    const id = `agg:${group.neighbourhood}:${isoUtc(group.intervalStart)}`;
    const common = {
      id,
      neighbourhood: group.neighbourhood,
      intervalStart: isoUtc(group.intervalStart),
      intervalEnd: isoUtc(group.intervalStart + intervalMs),
      k,
    };
    const released = meters >= k;
    const record: AggregateRecordMsg | SuppressedRecordMsg = released
      ? {
          kind: 'aggregate',
          ...common,
          meters,
          ...this.noisy(rows.map((r) => fromBytes(r.ciphertext))),
        }
      : { kind: 'suppressed', ...common, reason: 'below-k' };
    this.buffer.decideGroup(group, released ? 'released' : 'suppressed', {
      recordId: id,
      kind: record.kind,
      body: JSON.stringify(record),
      createdAt: now,
      group,
    });
    this.metrics.inc(released ? 'aggregates.released' : 'aggregates.suppressed');
    const where = { neighbourhood: group.neighbourhood, intervalStart: common.intervalStart };
    if (released) this.log.debug({ ...where, meters }, 'released');
    else this.log.info({ ...where, k }, 'aggregate suppressed: fewer than k meters reported');
  }

  /** E(Σ readings + M + 2^s·(B + η)) and what the MDMS needs to read it (docs/protocol.md §Aggregate). */
  private noisy(ciphertexts: bigint[]): Pick<AggregateRecordMsg, 'v' | 'release' | 'noise' | 'ciphertext'> {
    const { layout, noise, maxMetersPerRelease } = this.opts;
    const bits = releaseBits({ clipWh: layout.clipWh, maxMetersPerRelease, noiseBound: noise.bound });
    const below = layout.slotBits * layout.slots.length + MASK_MARGIN_BITS;
    const mask = this.sampler.uniform(1n << BigInt(below));
    const eta = this.sampler.truncatedGaussian(noise.sigma2, noise.bound);
    const shifted = (noise.bound + eta) << BigInt(layout.releaseShift);
    const sum = addCiphertexts(this.key, [...ciphertexts, this.encrypt(mask + shifted)]);
    this.metrics.inc('aggregates.noised');
    return {
      v: 2,
      release: { shift: layout.releaseShift, bits },
      noise: {
        mechanism: noise.mechanism,
        sigma2: rationalText(noise.sigma2),
        offset: noise.bound.toString(),
        clipWh: noise.clipWh,
        epsilonPerDay: noise.epsilonPerDay,
        deltaPerDay: noise.deltaPerDay,
        releasesPerDay: noise.releasesPerDay,
      },
      ciphertext: toHex(sum),
    };
  }
}
