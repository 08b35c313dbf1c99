/**
 * Readings from meters that encrypt and sign them themselves (docs/drivers/mqtt.md §sealed): the gateway never
 * sees the value. The payload is the contract's signed envelope (gateway/protocol/envelope.ts), signed with the
 * meter's Ed25519 key, around this body:
 *
 *     {"type":"sealed-reading","v":2,"intervalStart":"2024-03-01T11:00:00Z","intervalMinutes":15,
 *      "slotBits":52,"slots":["total","peak","offpeak"],"releaseShift":286,"clipWh":1000,"ciphertext":"<hex>"}
 *
 * `ciphertext` is a Paillier encryption under the supplier's public key of the packed plaintext the gateway
 * itself would have made (gateway/encrypt/packing.ts): the interval's Wh in the "total" slot and in the slot of
 * the tariff band its start falls in, zero elsewhere, and min(Wh, clipWh) in the release field at bit
 * `releaseShift` (what a noisy neighbourhood release sums). `slotBits`, `slots`, `releaseShift` and `clipWh` must
 * be the gateway's own layout
 * (logged at start as "keys loaded"), so that a meter configured for another layout is refused rather than
 * corrupting sums. The gateway checks the signature, the layout, the interval and that the ciphertext is a valid
 * element (0 < c < n², coprime to n); it cannot check the value, which the meter is trusted for as a billing meter
 * is anyway. Version 1 bodies (no release field: the meter would count 0 in every release) are refused.
 */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { GatewayError } from '../../gateway/errors.ts';
import type { PackingLayout } from '../../gateway/encrypt/packing.ts';
import { openEnvelope } from '../../gateway/protocol/envelope.ts';

export interface SealedReading {
  start: number;
  end: number;
  ciphertext: bigint;
}

const SealedBody = z
  .object({
    type: z.literal('sealed-reading'),
    v: z.literal(2),
    intervalStart: z.iso.datetime({ offset: true }),
    intervalMinutes: z.number().int().min(1).max(1440),
    slotBits: z.number().int().min(1).max(4096),
    slots: z.array(z.string()).min(2).max(16),
    releaseShift: z.number().int().min(1).max(16_384),
    clipWh: z.number().int().min(1),
    ciphertext: z.string().regex(/^[0-9a-f]{1,2048}$/, 'must be lower-case hex'),
  })
  .strict();

export function parseSealedPayload(
  payload: Buffer,
  meterKey: KeyObject,
  layout: PackingLayout,
): SealedReading {
  let opened: { body: unknown };
  try {
    opened = openEnvelope(payload, meterKey);
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'SIGNATURE_INVALID') throw error;
    throw new GatewayError('PAYLOAD_MALFORMED', (error as Error).message);
  }
  const version = (opened.body as { v?: unknown } | null)?.v;
  if (version === 1) {
    throw new GatewayError(
      'PAYLOAD_MALFORMED',
      'sealed-reading v1 has no release field (issue #14): update the meter to v2 (docs/drivers/mqtt.md)',
    );
  }
  const parsed = SealedBody.safeParse(opened.body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new GatewayError('PAYLOAD_MALFORMED', `${issue.path.join('.') || '(body)'}: ${issue.message}`);
  }
  const b = parsed.data;
  if (
    b.slotBits !== layout.slotBits ||
    b.slots.join(',') !== layout.slots.join(',') ||
    b.releaseShift !== layout.releaseShift ||
    b.clipWh !== layout.clipWh
  ) {
    throw new GatewayError(
      'PAYLOAD_MALFORMED',
      `packing layout ${b.slotBits} bits × [${b.slots.join(', ')}], release at bit ${b.releaseShift} clipped ` +
        `at ${b.clipWh} Wh is not the gateway's ${layout.slotBits} bits × [${layout.slots.join(', ')}], ` +
        `release at bit ${layout.releaseShift} clipped at ${layout.clipWh} Wh`,
    );
  }
  const start = Date.parse(b.intervalStart);
  return { start, end: start + b.intervalMinutes * 60_000, ciphertext: BigInt(`0x${b.ciphertext}`) };
}
