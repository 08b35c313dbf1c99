/**
 * The household side of contract version 1 (docs/protocol.md §Households): requests a household signs, the
 * gateway's signed replies, and the live stream of sealed readings.
 *
 * A request is {"v":1,"body":"<JSON text>","sig":"<base64url>","proof":"<base64url>"}: `sig` is the household's
 * Ed25519 signature of the body bytes by its signing key, `proof` (enrolment only) the signature of the same bytes
 * by the key its meter's enrolment code stands for, or by the household's currently enrolled signing key.
 */
import { z } from 'zod';

const B64u = (max: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .max(max);
const RawKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'raw 32-byte key, base64url');
const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);

export const CustomerRequestMessage = z
  .object({ v: z.literal(1), body: z.string().max(64 * 1024), sig: B64u(100), proof: B64u(100).optional() })
  .strict();

const RequestBase = {
  /** Chosen by the household: the reply comes on …/customer/reply/<id>. */
  id: Id,
  /** The gateway the request is for (a request is not valid at any other). */
  gatewayId: Id,
  meterId: Id,
  /** Strictly increasing per meter (the household's tool uses milliseconds since 1970): replays are refused. */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  issuedAt: z.iso.datetime(),
};

export const EnrolRequest = z
  .object({
    type: z.literal('enrol'),
    ...RequestBase,
    keys: z.object({ sealing: RawKey, signing: RawKey }).strict(),
    /** What `proof` is made with: the meter's enrolment code, or the key enrolled now (re-keying). */
    authority: z.enum(['code', 'current-key']),
  })
  .strict();
export type EnrolRequest = z.infer<typeof EnrolRequest>;

/** The household's sealed readings with from ≤ start < to (at most 5,000 per reply; `more` says there are more). */
export const HistoryRequest = z
  .object({ type: z.literal('history'), ...RequestBase, from: z.iso.datetime(), to: z.iso.datetime() })
  .strict();
export type HistoryRequest = z.infer<typeof HistoryRequest>;

/** Delete the household's whole history from the gateway. */
export const EraseRequest = z.object({ type: z.literal('erase'), ...RequestBase }).strict();
export type EraseRequest = z.infer<typeof EraseRequest>;

/** What the gateway collects about the household and sends upstream (transparency). */
export const InfoRequest = z.object({ type: z.literal('info'), ...RequestBase }).strict();

export const CustomerRequest = z.discriminatedUnion('type', [
  EnrolRequest,
  HistoryRequest,
  EraseRequest,
  InfoRequest,
]);
export type CustomerRequest = z.infer<typeof CustomerRequest>;

/** The gateway's account of what it does with a household's data (`info`). */
export const CustomerInfo = z
  .object({
    meterId: Id,
    gatewayId: Id,
    enrolledAt: z.iso.datetime(),
    fingerprint: z.string(),
    /** What is read from the meter, and how often. */
    collected: z.object({ quantity: z.string(), intervalMinutes: z.number() }).strict(),
    /** What leaves the gateway for the supplier, and under which rules. */
    upstream: z
      .object({
        neighbourhood: Id,
        k: z.number().int(),
        billingAccount: Id,
        billingPeriod: z.string(),
        tariffBands: z.array(z.string()),
      })
      .strict(),
    /** What the gateway keeps, and for how long. */
    kept: z
      .object({
        historyDays: z.number(),
        historyReadings: z.number().int(),
        pendingCiphertexts: z.string(),
      })
      .strict(),
    /** Third parties the household has granted access to (none until consent exists). */
    consents: z.array(z.unknown()),
  })
  .strict();
export type CustomerInfo = z.infer<typeof CustomerInfo>;

/** The gateway's reply, in a signed envelope (envelope.ts) on …/customer/reply/<id>. */
export const CustomerReply = z
  .object({
    v: z.literal(1),
    type: z.literal('reply'),
    id: Id,
    ok: z.boolean(),
    code: z.string().optional(),
    message: z.string().max(500).optional(),
    /** On a successful enrolment: what the household compares with its own. */
    fingerprint: z.string().optional(),
    pseudonym: z.string().optional(),
    /** The gateway's Ed25519 public key (raw), which signs its replies and the live stream. */
    gatewayKey: RawKey,
    /** History: sealed readings, each opened like a live one. */
    readings: z
      .array(z.object({ start: z.iso.datetime(), end: z.iso.datetime(), sealed: B64u(1024) }).strict())
      .optional(),
    /** History: more readings in the range after the last one here (ask again from its end). */
    more: z.boolean().optional(),
    /** Erase: how many sealed readings were deleted. */
    erased: z.number().int().min(0).optional(),
    /** Info: what the gateway collects, sends and keeps. */
    info: CustomerInfo.optional(),
  })
  .strict();
export type CustomerReply = z.infer<typeof CustomerReply>;

/** One reading on …/c/<pseudonym>/live, in a signed envelope; `sealed` opens with the household's key. */
export const LiveReading = z
  .object({
    v: z.literal(1),
    type: z.literal('live'),
    start: z.iso.datetime(),
    end: z.iso.datetime(),
    sealed: B64u(1024),
  })
  .strict();
export type LiveReading = z.infer<typeof LiveReading>;

/** What a sealed live reading holds: JSON, padded with spaces to a fixed length so that the ciphertext's length
 *  does not tell how many digits the reading has. */
export const LivePlaintext = z.object({ wh: z.number().int().min(0) }).strict();
const LIVE_PLAINTEXT_BYTES = 32;

export function livePlaintext(wh: number): Buffer {
  return Buffer.from(JSON.stringify({ wh }).padEnd(LIVE_PLAINTEXT_BYTES, ' '), 'utf8');
}

/** The associated data a live reading is sealed with: its stream and its interval. */
export const liveAad = (pseudonym: string, start: string, end: string): string =>
  `meterspace/v1 live ${pseudonym} ${start} ${end}`;
