/**
 * The authority's own rules (DESIGN.md invariants 2, 4 and 7), checked on each record of a verified batch before
 * it co-decrypts: an aggregate of at least k meters (its own minimum, whatever the gateway says) that states its
 * noise (contract v2: every release carries it; an aggregate without, e.g. signed by a pre-noise gateway, is exact
 * and refused), at least as strong as the authority's own minimum when it has one; a bill for a closed period of
 * at least the minimum length; nothing else. Each refusal is a GatewayError with a CODECRYPT_* code.
 */
import { GatewayError } from '../../../gateway/errors.ts';
import type { Rational } from '../../../gateway/encrypt/discrete-gaussian.ts';
import { UpRecord, type NoiseMsg, type UpRecordMsg } from '../../../gateway/protocol/messages.ts';

export interface AuthorityPolicy {
  /** The least number of distinct meters in a co-decrypted aggregate. */
  readonly minK: number;
  /** The shortest billing period co-decrypted, in days (a day may be 23 h across a DST change). */
  readonly minBillingDays: number;
  /**
   * When set (scripts/authority's default), an aggregate must state its noise, at least this strong; unset
   * (`--allow-no-noise`), the stated noise is not held to any minimum.
   */
  readonly requireNoise?: { readonly minSigma2?: Rational; readonly maxEpsilonPerDay?: number };
}

const HOUR = 3_600_000;

/** Checks one record (as the gateway signed it) against the policy at `now`; returns it typed when allowed. */
export function checkRecord(raw: unknown, policy: AuthorityPolicy, now: number): UpRecordMsg {
  if (policy.requireNoise && isAggregateWithoutNoise(raw)) {
    throw new GatewayError('CODECRYPT_NO_NOISE', 'the aggregate states no noise parameters');
  }
  const parsed = UpRecord.safeParse(raw);
  if (!parsed.success) {
    throw new GatewayError(
      'CODECRYPT_NOT_RELEASABLE',
      'not a release or bill record the authority co-decrypts',
    );
  }
  const r = parsed.data;
  if (r.kind === 'suppressed') {
    throw new GatewayError('CODECRYPT_NOT_RELEASABLE', 'a suppressed group has nothing to decrypt');
  }
  if (r.kind === 'aggregate') {
    const k = Math.max(r.k, policy.minK);
    if (r.meters < k)
      throw new GatewayError('CODECRYPT_BELOW_K', `aggregate of ${r.meters} meters, k = ${k}`);
    if (policy.requireNoise) checkNoise(r.noise, policy.requireNoise);
    return r;
  }
  const start = Date.parse(r.periodStart);
  const end = Date.parse(r.periodEnd);
  if (end > now) throw new GatewayError('CODECRYPT_PERIOD_SHORT', 'the billing period is not closed yet');
  if (end - start < policy.minBillingDays * 24 * HOUR - HOUR) {
    throw new GatewayError(
      'CODECRYPT_PERIOD_SHORT',
      `billing period shorter than ${policy.minBillingDays} day(s)`,
    );
  }
  return r;
}

function isAggregateWithoutNoise(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null) return false;
  const r = raw as { kind?: unknown; noise?: unknown };
  return r.kind === 'aggregate' && r.noise === undefined;
}

/** "num/den" (the wire form, messages.ts checks its digits) as a rational. */
function parseRational(text: string): Rational {
  const [num, den] = text.split('/');
  return { num: BigInt(num!), den: BigInt(den ?? '1') };
}

function checkNoise(stated: NoiseMsg, required: NonNullable<AuthorityPolicy['requireNoise']>): void {
  const sigma2 = parseRational(stated.sigma2);
  const least = required.minSigma2;
  // σ² ≥ a/b ⇔ num·b ≥ a·den (both denominators positive): exact, no float rounds a σ² up to the minimum.
  if (least !== undefined && sigma2.num * least.den < least.num * sigma2.den) {
    throw new GatewayError(
      'CODECRYPT_NO_NOISE',
      `noise σ² ${stated.sigma2} below the authority's minimum ${least.num}/${least.den}`,
    );
  }
  if (required.maxEpsilonPerDay !== undefined && stated.epsilonPerDay > required.maxEpsilonPerDay) {
    throw new GatewayError(
      'CODECRYPT_NO_NOISE',
      `ε per day ${stated.epsilonPerDay} above the authority's maximum ${required.maxEpsilonPerDay}`,
    );
  }
}
