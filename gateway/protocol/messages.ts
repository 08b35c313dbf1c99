/**
 * The payloads of contract version 1, typed and validated in one place (docs/protocol.md §Messages).
 * Big integers travel as lower-case hex strings; instants as ISO 8601 UTC strings.
 */
import { z } from 'zod';

const Hex = z.string().regex(/^[0-9a-f]{1,4096}$/, 'lower-case hex');
const Iso = z.iso.datetime();
const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);

export const Layout = z
  .object({
    slotBits: z.number().int().min(1).max(1024),
    slots: z.array(Id).min(1).max(9),
  })
  .strict();

/** A non-negative decimal integer of any size, e.g. a noise offset. */
const BigDecimal = z.string().regex(/^(0|[1-9][0-9]{0,300})$/, 'decimal integer');

/** The differential-privacy noise in a release (docs/protocol.md §Aggregate, docs/privacy.md §Noise). */
export const Noise = z
  .object({
    mechanism: z.literal('discrete-gaussian'),
    /** σ² as "num/den": the noise's variance (the discrete Gaussian's parameter, in Wh²). */
    sigma2: z.string().regex(/^[1-9][0-9]{0,300}\/[1-9][0-9]{0,300}$/, 'num/den'),
    /** B: the noise is truncated to [−B, B] and B is added, so the field is never negative. */
    offset: BigDecimal,
    /** A reading counted at most this many Wh in the sum. */
    clipWh: z.number().int().min(1),
    epsilonPerDay: z.number().positive(),
    deltaPerDay: z.number().gt(0).lt(1),
    releasesPerDay: z.number().positive(),
  })
  .strict();

/**
 * Version 2 (issue #14): one noisy value, Σ min(wh, clipWh) + η, in bits [shift, shift + bits) of the plaintext,
 * plus B; everything below is masked. Version 1 (exact band slots, no noise) is no longer produced or accepted.
 */
export const AggregateRecord = z
  .object({
    kind: z.literal('aggregate'),
    v: z.literal(2),
    id: z.string().max(200),
    neighbourhood: Id,
    intervalStart: Iso,
    intervalEnd: Iso,
    /** Distinct meters whose readings are in the sum (always ≥ k). */
    meters: z.number().int().min(2),
    k: z.number().int().min(2),
    release: z
      .object({ shift: z.number().int().min(1).max(16_384), bits: z.number().int().min(1).max(1024) })
      .strict(),
    noise: Noise,
    ciphertext: Hex,
  })
  .strict();

export const SuppressedRecord = z
  .object({
    kind: z.literal('suppressed'),
    id: z.string().max(200),
    neighbourhood: Id,
    intervalStart: Iso,
    intervalEnd: Iso,
    reason: z.literal('below-k'),
    k: z.number().int().min(2),
  })
  .strict();

const BillFields = {
  kind: z.literal('bill'),
  id: z.string().max(200),
  account: Id,
  periodStart: Iso,
  periodEnd: Iso,
  /** Meter-intervals folded into the bill. */
  intervals: z.number().int().min(1),
};

/** The Wh totals per tariff band, packed (billing.reveal: bands, the default; the gateway omits `reveal`). */
export const BandsBillRecord = z
  .object({
    ...BillFields,
    reveal: z.literal('bands').optional(),
    layout: Layout,
    ciphertext: Hex,
  })
  .strict();

/** A decimal amount of at most 6 decimals, e.g. "0.2875": a price per kWh. */
const Price = z.string().regex(/^(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?$/, 'decimal, at most 6 decimals');

/**
 * Only the amount due (billing.reveal: cost-only): the plaintext holds Σ price × Wh, in 10⁻⁹ currency units, in
 * its low `costBits` bits, then zero guard bits, then masked bits (docs/protocol.md §5).
 */
export const CostBillRecord = z
  .object({
    ...BillFields,
    reveal: z.literal('cost-only'),
    /** Band name → the price per kWh applied to the whole period. */
    prices: z.record(Id, Price),
    costBits: z.number().int().min(1).max(1024),
    ciphertext: Hex,
  })
  .strict();

export const BillRecord = z.discriminatedUnion('reveal', [BandsBillRecord, CostBillRecord]);

export const UpRecord = z.discriminatedUnion('kind', [AggregateRecord, SuppressedRecord, BillRecord]);

export const BatchBody = z
  .object({
    v: z.literal(1),
    type: z.literal('batch'),
    gateway: Id,
    batchId: z.string().max(128),
    seq: z.number().int().min(1),
    createdAt: Iso,
    records: z.array(UpRecord).min(1).max(10_000),
  })
  .strict();

export const AckBody = z
  .object({
    v: z.literal(1),
    type: z.literal('ack'),
    gateway: Id,
    batchId: z.string().max(128),
    /** SHA-256 (hex) of the acknowledged batch's body text. */
    bodyDigest: z.string().regex(/^[0-9a-f]{64}$/),
    ackedAt: Iso,
  })
  .strict();

/**
 * Why an MDMS refused a batch for good (contract 1.1, docs/protocol.md §7a). Codes a gateway does not know are
 * treated as poison without a rebuild.
 */
export const NACK_CODES = [
  'SIGNATURE_INVALID',
  'DIGEST_MISMATCH',
  'UNKNOWN_GATEWAY',
  'LAYOUT',
  'MALFORMED',
  'CIPHERTEXT_INVALID',
] as const;
export type NackCode = (typeof NACK_CODES)[number];

/** The MDMS's signed refusal of a batch, on the ack topic (contract 1.1: older gateways ignore it). */
export const NackBody = z
  .object({
    v: z.literal(1),
    type: z.literal('nack'),
    gateway: Id,
    batchId: z.string().max(128),
    /** SHA-256 (hex) of the body the MDMS received; absent when it could not read one. */
    bodyDigest: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/),
    /** For the operator's log; never a reading. */
    reason: z.string().max(500),
    nackedAt: Iso,
  })
  .strict();

export type LayoutMsg = z.infer<typeof Layout>;
export type AggregateRecordMsg = z.infer<typeof AggregateRecord>;
export type NoiseMsg = z.infer<typeof Noise>;
export type SuppressedRecordMsg = z.infer<typeof SuppressedRecord>;
export type BillRecordMsg = z.infer<typeof BillRecord>;
export type BandsBillRecordMsg = z.infer<typeof BandsBillRecord>;
export type CostBillRecordMsg = z.infer<typeof CostBillRecord>;
export type UpRecordMsg = z.infer<typeof UpRecord>;
export type BatchBodyMsg = z.infer<typeof BatchBody>;
export type AckBodyMsg = z.infer<typeof AckBody>;
export type NackBodyMsg = z.infer<typeof NackBody>;
