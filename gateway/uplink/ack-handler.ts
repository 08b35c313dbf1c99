/**
 * Messages on the acknowledgement topic (docs/protocol.md §7, §7a): verified with the MDMS's public key, then an
 * ack deletes what it names (buffer.ackBatch) and tells the pacer the MDMS's latency, and a nack (contract 1.1)
 * marks its batch as poison: rebuilt once where the code suggests corruption, else quarantined (batch-repair.ts).
 * Each message is counted once under `acks.*` (a nack as `acks.nack`, and by `nacks.<CODE>` and
 * `nacks.outcome.<outcome>`); identical warnings are rate-limited.
 */
import type { KeyObject } from 'node:crypto';
import type { BatchRepair } from '../batch/batch-repair.ts';
import type { BufferStore } from '../buffer/buffer.ts';
import { errorCode, GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { LogThrottle } from '../observe/log-throttle.ts';
import type { Metrics } from '../observe/metrics.ts';
import { openEnvelope } from '../protocol/envelope.ts';
import { AckBody, NackBody, type NackBodyMsg } from '../protocol/messages.ts';
import type { AckPacer } from './ack-pacer.ts';

export interface AckHandlerParts {
  buffer: BufferStore;
  mdmsKey: KeyObject;
  pacer: AckPacer;
  /** Absent: a nack is counted and logged, nothing else. */
  repair?: BatchRepair;
  throttle: LogThrottle;
  metrics: Metrics;
  log: Logger;
}

export class AckHandler {
  constructor(
    private readonly gatewayId: string,
    private readonly parts: AckHandlerParts,
  ) {}

  handle(payload: Buffer): void {
    const { metrics, log, throttle } = this.parts;
    try {
      const { body } = openEnvelope(payload, this.parts.mdmsKey);
      if ((body as { type?: unknown } | null)?.type === 'nack') return this.nack(body);
      const parsed = AckBody.safeParse(body);
      if (!parsed.success)
        throw new GatewayError('MESSAGE_MALFORMED', 'acknowledgement body is not a v1 ack');
      const ack = parsed.data;
      if (ack.gateway !== this.gatewayId) {
        throw new GatewayError('MESSAGE_MALFORMED', 'acknowledgement names another gateway');
      }
      const result = this.parts.buffer.ackBatch(ack.batchId, ack.bodyDigest);
      metrics.inc(`acks.${result}`);
      if (result === 'acked') {
        const latency = this.parts.pacer.acked(ack.batchId);
        if (latency !== undefined) metrics.observe('acks.latency_ms', latency);
        log.info({ batchId: ack.batchId }, 'batch acknowledged');
      } else {
        // A slow MDMS acks every re-send: the later acks name a batch already deleted. Expected, so rate-limited.
        throttle.hit(`ack-not-applied:${result}`, (repeats) =>
          log.warn({ batchId: ack.batchId, result, repeats }, 'acknowledgement not applied'),
        );
      }
    } catch (error) {
      const code = errorCode(error);
      metrics.inc(`acks.rejected.${code}`);
      throttle.hit(`ack-rejected:${code}`, (repeats) =>
        log.warn({ code, reason: (error as Error).message, repeats }, 'acknowledgement rejected'),
      );
    }
  }

  private nack(body: unknown): void {
    const { metrics, log, throttle, repair } = this.parts;
    const parsed = NackBody.safeParse(body);
    if (!parsed.success) throw new GatewayError('MESSAGE_MALFORMED', 'refusal body is not a v1 nack');
    const nack: NackBodyMsg = parsed.data;
    if (nack.gateway !== this.gatewayId)
      throw new GatewayError('MESSAGE_MALFORMED', 'refusal names another gateway');
    // Every message on the ack topic is counted once under `acks.` (what tests and operators add up).
    metrics.inc('acks.nack');
    metrics.inc(`nacks.${nack.code}`);
    const outcome = repair?.refused(nack.batchId, nack.code, nack.reason, nack.bodyDigest) ?? 'kept';
    metrics.inc(`nacks.outcome.${outcome}`);
    if (outcome === 'quarantined') this.parts.pacer.forget(nack.batchId);
    throttle.hit(`nack:${nack.code}:${outcome}`, (repeats) =>
      log.error(
        { batchId: nack.batchId, code: nack.code, reason: nack.reason, outcome, repeats },
        outcome === 'kept'
          ? 'the MDMS refused a batch for a reason of its own set-up; kept and re-sent: tell the MDMS operator'
          : 'the MDMS refused a batch',
      ),
    );
  }
}
