/**
 * The privacy authority's decision procedure, without transport (the MQTT service is service.ts): a signed
 * request from the MDMS carries a gateway's signed batch and the record ids to co-decrypt. The authority
 * verifies the batch against its own trusted gateway keys, checks every record against its policy and against
 * what it already co-decrypted (the same record id with other content is refused; the same content again gets
 * the same answer), computes its partial decryption for each allowed record, and logs every decision, accepted
 * or refused, in the transparency log before it replies.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { GatewayError, errorCode } from '../../../gateway/errors.ts';
import { fromHex, toHex } from '../../../gateway/encrypt/bigint.ts';
import { fingerprint } from '../../../gateway/keys/files.ts';
import { openEnvelope } from '../../../gateway/protocol/envelope.ts';
import { isoUtc } from '../../../gateway/time/zoned.ts';
import { partialDecrypt, type KeyShare } from '../split-key/shares.ts';
import { CodecryptRequest, type CodecryptReplyMsg, type CodecryptResultMsg } from './messages.ts';
import { checkRecord, type AuthorityPolicy } from './policy.ts';
import type { Decision, TransparencyLog } from './transparency-log.ts';

export interface AuthorityContext {
  share: KeyShare;
  /** Gateway id → its Ed25519 public key: the authority's own list, not the MDMS's. */
  trust: ReadonlyMap<string, KeyObject>;
  /** The MDMS key(s) whose requests it answers. */
  requesters: readonly KeyObject[];
  policy: AuthorityPolicy;
  log: TransparencyLog;
  now: () => number;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

interface VerifiedBatch {
  batchId: string;
  batchDigest: string;
  records: Map<string, unknown>;
}

export class Authority {
  constructor(private readonly ctx: AuthorityContext) {}

  /** Answers one signed request (the envelope as received); throws only when the request itself is not one. */
  handle(raw: Buffer | string): CodecryptReplyMsg {
    const { requester, body } = this.openRequest(raw);
    const parsed = CodecryptRequest.safeParse(body);
    if (!parsed.success) throw new GatewayError('MESSAGE_MALFORMED', 'not a v1 co-decryption request');
    const req = parsed.data;
    const at = isoUtc(this.ctx.now());
    let batch: VerifiedBatch | undefined;
    let batchCode = '';
    try {
      batch = this.verifyBatch(req.gateway, req.batch);
    } catch (error) {
      batchCode = errorCode(error);
    }
    const decisions: Decision[] = [];
    const results: CodecryptResultMsg[] = [];
    const released: Array<[string, string]> = [];
    for (const id of req.records) {
      const base = {
        at,
        request: req.id,
        requester,
        gateway: req.gateway,
        batchId: batch?.batchId ?? null,
        batchDigest: batch?.batchDigest ?? null,
        record: id,
      };
      if (!batch) {
        decisions.push({ ...base, kind: null, contentDigest: null, decision: 'refused', code: batchCode });
        results.push({ id, ok: false, code: batchCode });
        continue;
      }
      const raw = batch.records.get(id);
      const kind = (raw as { kind?: unknown } | undefined)?.kind;
      const contentDigest = raw === undefined ? null : sha256(JSON.stringify(raw));
      try {
        const partial = this.decide(req.gateway, id, raw, contentDigest);
        released.push([id, contentDigest!]);
        decisions.push({ ...base, kind: String(kind), contentDigest, decision: 'accepted', code: null });
        results.push({ id, ok: true, partial: toHex(partial) });
      } catch (error) {
        const code = errorCode(error);
        decisions.push({
          ...base,
          kind: typeof kind === 'string' ? kind : null,
          contentDigest,
          decision: 'refused',
          code,
        });
        results.push({ id, ok: false, code });
      }
    }
    // Logged before anything leaves: a partial decryption that was sent is always in the log.
    this.ctx.log.db.transaction(() => {
      for (const [id, digest] of released) this.ctx.log.markReleased(req.gateway, id, digest);
      this.ctx.log.append(decisions);
    })();
    return {
      v: 1,
      type: 'codecrypt-reply',
      id: req.id,
      gateway: req.gateway,
      batchDigest: batch?.batchDigest ?? null,
      results,
    };
  }

  private openRequest(raw: Buffer | string): { requester: string; body: unknown } {
    let last: unknown;
    for (const key of this.ctx.requesters) {
      try {
        return { requester: fingerprint(key), body: openEnvelope(raw, key).body };
      } catch (error) {
        last = error;
      }
    }
    throw last instanceof GatewayError ? last : new GatewayError('UNKNOWN_SENDER', 'no requester key');
  }

  private verifyBatch(gateway: string, envelope: string): VerifiedBatch {
    const key = this.ctx.trust.get(gateway);
    if (!key)
      throw new GatewayError('UNKNOWN_SENDER', `the authority trusts no key for gateway "${gateway}"`);
    const { body, bodyDigest } = openEnvelope(envelope, key);
    const b = body as { type?: unknown; gateway?: unknown; batchId?: unknown; records?: unknown };
    if (
      b.type !== 'batch' ||
      b.gateway !== gateway ||
      typeof b.batchId !== 'string' ||
      !Array.isArray(b.records)
    ) {
      throw new GatewayError('MESSAGE_MALFORMED', 'the signed body is not a batch of that gateway');
    }
    const records = new Map<string, unknown>();
    for (const r of b.records as unknown[]) {
      const id = (r as { id?: unknown } | null)?.id;
      if (typeof id === 'string') records.set(id, r);
    }
    return { batchId: b.batchId, batchDigest: bodyDigest, records };
  }

  /** The partial decryption of an allowed record, or a GatewayError saying why not. */
  private decide(gateway: string, id: string, raw: unknown, contentDigest: string | null): bigint {
    if (raw === undefined || contentDigest === null) {
      throw new GatewayError('CODECRYPT_UNKNOWN_RECORD', `record ${id} is not in the batch`);
    }
    const seen = this.ctx.log.releasedDigest(gateway, id);
    if (seen !== undefined && seen !== contentDigest) {
      throw new GatewayError('CODECRYPT_CONFLICT', `record ${id} was co-decrypted before with other content`);
    }
    const record = checkRecord(raw, this.ctx.policy, this.ctx.now());
    if (record.kind === 'suppressed')
      throw new GatewayError('CODECRYPT_NOT_RELEASABLE', 'nothing to decrypt');
    const c = fromHex(record.ciphertext);
    if (c === undefined) throw new GatewayError('CIPHERTEXT_INVALID', 'ciphertext is not hex');
    return partialDecrypt(this.ctx.share, c);
  }
}
