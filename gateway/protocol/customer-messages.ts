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

/**
 * A request message sealed to the gateway's request key (announced on …/customer/key), so that the broker
 * reads nothing of it: `sealed` opens, with associated data `meterspace/v1 request <gatewayId>`, to the bytes
 * of a CustomerRequestMessage.
 */
export const SealedRequestMessage = z.object({ v: z.literal(1), sealed: B64u(24 * 1024) }).strict();

export const requestAad = (gatewayId: string): string => `meterspace/v1 request ${gatewayId}`;

/** The gateway's announcement of its request key, retained, in a signed envelope on …/customer/key. */
export const RequestKeyAnnouncement = z
  .object({
    v: z.literal(1),
    type: z.literal('request-key'),
    gatewayId: Id,
    /** The X25519 public key (raw) requests are sealed to. */
    sealing: RawKey,
    /** The gateway's Ed25519 public key (raw), which signs this announcement. */
    gatewayKey: RawKey,
  })
  .strict();
export type RequestKeyAnnouncement = z.infer<typeof RequestKeyAnnouncement>;

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

/** How finely a third party sees the household's readings: each interval, or summed per hour or per day. */
export const Granularity = z.enum(['interval', 'hourly', 'daily']);
export type Granularity = z.infer<typeof Granularity>;

/** Printable name of a third party, as the household calls it (shown back in the log and by `info`). */
const GranteeName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[^\p{Cc}]+$/u, 'no control characters');

/** Let a third party (its X25519 key) receive the household's readings at a granularity, until a time. */
export const ConsentGrantRequest = z
  .object({
    type: z.literal('consent-grant'),
    ...RequestBase,
    grantee: z.object({ name: GranteeName, sealing: RawKey }).strict(),
    granularity: Granularity,
    until: z.iso.datetime(),
  })
  .strict();
export type ConsentGrantRequest = z.infer<typeof ConsentGrantRequest>;

/** End a consent before its time. */
export const ConsentRevokeRequest = z
  .object({
    type: z.literal('consent-revoke'),
    ...RequestBase,
    consentId: z.string().regex(/^[0-9a-f]{20}$/),
  })
  .strict();
export type ConsentRevokeRequest = z.infer<typeof ConsentRevokeRequest>;

/** Read back the household's consent log. */
export const ConsentsRequest = z.object({ type: z.literal('consents'), ...RequestBase }).strict();

export const CustomerRequest = z.discriminatedUnion('type', [
  EnrolRequest,
  HistoryRequest,
  EraseRequest,
  InfoRequest,
  ConsentGrantRequest,
  ConsentRevokeRequest,
  ConsentsRequest,
]);
export type CustomerRequest = z.infer<typeof CustomerRequest>;

/** A consent in force: who receives what, from when until when, and on which topic. */
export const ActiveConsent = z
  .object({
    id: z.string(),
    grantee: GranteeName,
    /** The third party's key fingerprint (docs/protocol.md §Consent), to compare with what it gave. */
    granteeFingerprint: z.string(),
    granularity: Granularity,
    from: z.iso.datetime(),
    until: z.iso.datetime(),
    /** Where the gateway publishes what it seals to the third party (give it this). */
    topic: z.string(),
  })
  .strict();
export type ActiveConsent = z.infer<typeof ActiveConsent>;

/** One entry of the consent log: the exact JSON text that was hashed, and its SHA-256 (hex). */
export const ConsentLogLine = z.object({
  entry: z.string().max(8192),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type ConsentLogLine = z.infer<typeof ConsentLogLine>;

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
        /** What a bill reveals to the supplier: the totals per band, or only the amount due. */
        billReveals: z.enum(['bands', 'cost-only']).optional(),
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
    /** Third parties the household has granted access to, in force now. */
    consents: z.array(ActiveConsent),
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
    /** On a successful enrolment: the device the meter id is bound to (issue #14), if the meter has been read. */
    device: z.string().max(1000).optional(),
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
    /** Consent grant: the consent made. */
    consent: ActiveConsent.optional(),
    /** Consents: the whole consent log of the household's tenancy, oldest first. */
    log: z.array(ConsentLogLine).max(10_000).optional(),
    /** Consents: those in force by the gateway's clock (the household checks each against the log). */
    active: z.array(ActiveConsent).optional(),
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

/**
 * One interval of a third party's stream on …/c/<stream>/shared, in a signed envelope. `start`/`end` is the span
 * the third party may see (an hour or a day; the interval itself for `interval`), `slot` the interval's place in
 * it (0 … of − 1). What `sealed` holds is masked (docs/protocol.md §Consent): only the sum over all `of` slots
 * of a span means anything, so a third party granted `daily` learns daily sums and nothing finer.
 */
export const SharedReading = z
  .object({
    v: z.literal(1),
    type: z.literal('shared'),
    granularity: Granularity,
    start: z.iso.datetime(),
    end: z.iso.datetime(),
    slot: z.number().int().min(0).max(1499),
    of: z.number().int().min(1).max(1500),
    sealed: B64u(1024),
  })
  .strict();
export type SharedReading = z.infer<typeof SharedReading>;

/**
 * What a shared slot holds: `m` = (Wh + mask) mod 2^48, the masks of a span's slots summing to 0 mod 2^48;
 * `missing` when the gateway had no reading for the slot (or the consent did not cover it) and `m` is the mask
 * alone. Padded with spaces to a fixed length.
 */
export const SharedPlaintext = z
  .object({
    m: z
      .number()
      .int()
      .min(0)
      .max(2 ** 48 - 1),
    missing: z.boolean(),
  })
  .strict();
const SHARED_PLAINTEXT_BYTES = 48;

export function sharedPlaintext(m: number, missing: boolean): Buffer {
  return Buffer.from(JSON.stringify({ m, missing }).padEnd(SHARED_PLAINTEXT_BYTES, ' '), 'utf8');
}

/** The associated data a shared slot is sealed with: its stream, granularity, span and slot. */
export const sharedAad = (
  stream: string,
  granularity: Granularity,
  start: string,
  end: string,
  slot: number,
): string => `meterspace/v1 shared ${stream} ${granularity} ${start} ${end} ${slot}`;

/**
 * The reply to a sealed request, in a signed envelope: `sealed` opens with the household's X25519 key, with
 * associated data `meterspace/v1 reply <gatewayId> <id>`, to the JSON of a CustomerReply with the same id.
 */
export const SealedReply = z
  .object({
    v: z.literal(1),
    type: z.literal('sealed-reply'),
    id: Id,
    gatewayKey: RawKey,
    sealed: B64u(4 * 1024 * 1024),
  })
  .strict();
export type SealedReply = z.infer<typeof SealedReply>;

export const replyAad = (gatewayId: string, id: string): string => `meterspace/v1 reply ${gatewayId} ${id}`;
