/**
 * A publish the broker refused, as mqtt.js reports it: under MQTT 5 a PUBACK with a reason code of 0x80 or more
 * (MQTT 5.0 §3.4.2.1) completes the publish's callback with an `ErrorWithReasonCode` whose `code` is that number
 * (node_modules/mqtt/build/lib/handlers/ack.js; 0x10 "no matching subscribers" is a success). Under MQTT 3.1.1 a
 * PUBACK has no reason code: a broker that drops a denied publish still acknowledges it, and nothing here can
 * tell (docs/reliability.md "The broker refuses the batches").
 */

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
