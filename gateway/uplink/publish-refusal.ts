/**
 * A publish the broker refused, as mqtt.js reports it: under MQTT 5 a PUBACK with a reason code of 0x80 or more
 * (MQTT 5.0 §3.4.2.1) completes the publish's callback with an `ErrorWithReasonCode` whose `code` is that number
 * (node_modules/mqtt/build/lib/handlers/ack.js; 0x10 "no matching subscribers" is a success). Under MQTT 3.1.1 a
 * PUBACK has no reason code: a broker that drops a denied publish still acknowledges it, and nothing here can
 * tell (docs/reliability.md "The broker refuses the batches").
 */
import type { DeliveryStatus } from '../observe/delivery-status.ts';
import type { Logger } from '../observe/log.ts';
import type { LogThrottle } from '../observe/log-throttle.ts';
import type { Metrics } from '../observe/metrics.ts';

export interface PublishRefusal {
  reasonCode: number;
  /** "0x87" */
  hex: string;
  /** "Not authorized" (the specification's name). */
  reason: string;
  /** "NOT_AUTHORIZED": for counters. */
  name: string;
}

/** MQTT 5.0 §2.4, the reason codes a PUBACK may carry. */
const PUBACK_REASONS: Readonly<Record<number, string>> = {
  0x80: 'Unspecified error',
  0x83: 'Implementation specific error',
  0x87: 'Not authorized',
  0x90: 'Topic Name invalid',
  0x91: 'Packet identifier in use',
  0x97: 'Quota exceeded',
  0x99: 'Payload format invalid',
};

/** The broker's refusal carried by `err`, or undefined when the error is not one (a closed connection, say). */
export function publishRefusal(err: Error): PublishRefusal | undefined {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'number' || code < 0x80 || code > 0xff) return undefined;
  const reason = PUBACK_REASONS[code] ?? 'Unknown reason code';
  return {
    reasonCode: code,
    hex: `0x${code.toString(16).padStart(2, '0')}`,
    reason,
    name: reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_'),
  };
}

/**
 * A batch publish the client or the broker did not complete. A refusal by the broker (an ACL, a quota) is an
 * error with the broker's reason; anything else (the connection went) a warning. Either way the batch stays
 * pending and is re-sent on its back-off, so each is counted every time and logged once per reason (then every
 * ten minutes with a count).
 */
export class PublishFailures {
  constructor(
    private readonly topic: string,
    private readonly delivery: DeliveryStatus,
    private readonly throttle: LogThrottle,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  failed(batchId: string, err: Error): void {
    const refusal = publishRefusal(err);
    if (!refusal) {
      this.metrics.inc('batches.publish_failed');
      this.throttle.hit(`publish-failed:${err.message}`, (repeats) =>
        this.log.warn({ batchId, err: err.message, repeats }, 'batch publish failed; will retry'),
      );
      return;
    }
    this.metrics.inc('batches.refused_by_broker');
    this.metrics.inc(`batches.refused_by_broker.${refusal.name}`);
    this.delivery.brokerRefused(refusal.reasonCode, refusal.reason);
    this.throttle.hit(`publish-refused:${refusal.reasonCode}`, (repeats) =>
      this.log.error(
        {
          code: 'PUBLISH_REFUSED',
          batchId,
          reasonCode: refusal.hex,
          reason: refusal.reason,
          topic: this.topic,
          repeats,
        },
        `the broker refused the batch (${refusal.hex} ${refusal.reason}): check its ACL for the batch topic; ` +
          'the batch stays buffered and is re-sent',
      ),
    );
  }
}
