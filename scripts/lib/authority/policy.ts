/**
 * The authority's own rules (DESIGN.md invariants 2, 4 and 7), checked on each record of a verified batch before
 * it co-decrypts: an aggregate of at least k meters (its own minimum, whatever the gateway says), with noise
 * parameters when its policy requires them; a bill for a closed period of at least the minimum length; nothing
 * else. Each refusal is a GatewayError with a CODECRYPT_* code.
 */
import { z } from 'zod';
import { GatewayError } from '../../../gateway/errors.ts';
import { UpRecord, type UpRecordMsg } from '../../../gateway/protocol/messages.ts';

export interface AuthorityPolicy {
  /** The least number of distinct meters in a co-decrypted aggregate. */
  readonly minK: number;
  /** The shortest billing period co-decrypted, in days (a day may be 23 h across a DST change). */
  readonly minBillingDays: number;
  /** When set, an aggregate must state its noise, at least this strong. */
  readonly requireNoise?: { readonly minSigma2?: number; readonly maxEpsilonPerDay?: number };
}

/** The noise a gateway states on a release (issue #14); read loosely so that today's records parse as before. */
const StatedNoise = z.object({ sigma2: z.number().positive(), epsilonPerDay: z.number().positive() }).loose();

const HOUR = 3_600_000;

/** Checks one record (as the gateway signed it) against the policy at `now`; returns it typed when allowed. */
export function checkRecord(raw: unknown, policy: AuthorityPolicy, now: number): UpRecordMsg {
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
    if (policy.requireNoise) checkNoise((raw as { noise?: unknown }).noise, policy.requireNoise);
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

function checkNoise(stated: unknown, required: NonNullable<AuthorityPolicy['requireNoise']>): void {
  const noise = StatedNoise.safeParse(stated);
  if (!noise.success)
    throw new GatewayError('CODECRYPT_NO_NOISE', 'the aggregate states no noise parameters');
  if (required.minSigma2 !== undefined && noise.data.sigma2 < required.minSigma2) {
    throw new GatewayError(
      'CODECRYPT_NO_NOISE',
      `noise σ² below the authority's minimum ${required.minSigma2}`,
    );
  }
  if (required.maxEpsilonPerDay !== undefined && noise.data.epsilonPerDay > required.maxEpsilonPerDay) {
    throw new GatewayError(
      'CODECRYPT_NO_NOISE',
      `ε per day above the authority's maximum ${required.maxEpsilonPerDay}`,
    );
  }
}
