/**
 * The reference MDMS's signed refusal (contract 1.1, docs/protocol.md §7a): when a batch is refused for
 * something in the batch itself, the gateway is told so, with a code, on its ack topic, instead of re-sending the
 * batch forever. Refusals for the MDMS's own trouble (its database, its key share) get no nack: the batch is
 * fine, and the gateway's re-send is what recovers it.
 */
import { errorCode } from '../../../gateway/errors.ts';
import { digest } from '../../../gateway/protocol/envelope.ts';
import type { NackBodyMsg, NackCode } from '../../../gateway/protocol/messages.ts';
import { isoUtc } from '../../../gateway/time/zoned.ts';

/** Where in the handling of a batch an error arose. */
export type Stage = 'verify' | 'parse' | 'open';

/** The nack code for an error at `stage`, or undefined when the batch is not at fault. */
export function nackCode(error: unknown, stage: Stage): NackCode | undefined {
  const code = errorCode(error);
  if (code === 'UNKNOWN_SENDER') return 'UNKNOWN_GATEWAY';
  if (code === 'SIGNATURE_INVALID') return 'SIGNATURE_INVALID';
  if (code === 'CIPHERTEXT_INVALID') return 'CIPHERTEXT_INVALID';
  // Malformed once opened: a release field or cost that does not fit this MDMS's key, i.e. the layout.
  if (code === 'MESSAGE_MALFORMED') return stage === 'open' ? 'LAYOUT' : 'MALFORMED';
  return undefined;
}

/** The batch id and body digest of a refused message, read without trusting it; undefined if unreadable. */
export function refusedBatch(payload: Buffer): { batchId: string; bodyDigest: string } | undefined {
  try {
    const env = JSON.parse(payload.toString()) as { body?: unknown };
    if (typeof env.body !== 'string') return undefined;
    const body = JSON.parse(env.body) as { batchId?: unknown };
    if (typeof body.batchId !== 'string' || body.batchId.length > 128) return undefined;
    return { batchId: body.batchId, bodyDigest: digest(env.body) };
  } catch {
    return undefined;
  }
}

export function nackBody(
  gateway: string,
  batch: { batchId: string; bodyDigest: string },
  code: NackCode,
  reason: string,
  at: number,
): NackBodyMsg {
  return {
    v: 1,
    type: 'nack',
    gateway,
    batchId: batch.batchId,
    bodyDigest: batch.bodyDigest,
    code,
    reason: reason.slice(0, 500),
    nackedAt: isoUtc(at),
  };
}
