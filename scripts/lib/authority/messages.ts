/**
 * The co-decryption contract between the MDMS and the privacy authority, version 1 (docs/protocol.md
 * §Co-decryption). Both directions travel in signed envelopes (gateway/protocol/envelope.ts): requests signed by
 * the MDMS's Ed25519 key, replies by the authority's.
 */
import { z } from 'zod';

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
const Hex = z.string().regex(/^[0-9a-f]{1,4096}$/, 'lower-case hex');

export const authorityTopics = {
  /** MDMS → authority: co-decryption requests, QoS 1. */
  request: (prefix: string) => `${prefix}/authority/request`,
  /** authority → MDMS: the signed reply to request `id`, QoS 1. */
  reply: (prefix: string, id: string) => `${prefix}/authority/reply/${id}`,
};

export const DEFAULT_AUTHORITY_PREFIX = 'meterspace/authority/v1';

export const CodecryptRequest = z
  .object({
    v: z.literal(1),
    type: z.literal('codecrypt-request'),
    id: Id,
    /** The gateway whose batch this is; the authority verifies the batch against its own key for it. */
    gateway: Id,
    /** The gateway's signed batch envelope, exactly as the MDMS received it. */
    batch: z.string().max(16 * 1024 * 1024),
    /** The records of that batch to co-decrypt. */
    records: z.array(z.string().max(200)).min(1).max(10_000),
  })
  .strict();

export const CodecryptResult = z.discriminatedUnion('ok', [
  z.object({ id: z.string().max(200), ok: z.literal(true), partial: Hex }).strict(),
  z.object({ id: z.string().max(200), ok: z.literal(false), code: z.string().max(64) }).strict(),
]);

export const CodecryptReply = z
  .object({
    v: z.literal(1),
    type: z.literal('codecrypt-reply'),
    /** The request id answered. */
    id: Id,
    gateway: Id,
    /** SHA-256 of the batch body, or null when the batch could not be verified. */
    batchDigest: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
    /** One result per requested record, in request order. */
    results: z.array(CodecryptResult),
  })
  .strict();

export type CodecryptRequestMsg = z.infer<typeof CodecryptRequest>;
export type CodecryptResultMsg = z.infer<typeof CodecryptResult>;
export type CodecryptReplyMsg = z.infer<typeof CodecryptReply>;
