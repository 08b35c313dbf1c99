/**
 * The gateway's own JSON for meters and bridges that publish over MQTT (docs/drivers/mqtt.md):
 *
 *     {"time": "2024-03-01T12:00:00+01:00", "values": [{"obis": "1-0:1.8.0", "value": 12345.678, "unit": "kWh"}]}
 *
 * `time` is optional (ISO 8601 with an offset; without it the gateway's clock places the reading); `values` holds
 * at least one OBIS register. Validated with zod: every problem is named with its path.
 */
import { z } from 'zod';
import { GatewayError } from '../../gateway/errors.ts';
import type { MeterFrame } from '../common/meter-frame.ts';

const GenericPayload = z
  .object({
    time: z.iso.datetime({ offset: true }).optional(),
    values: z
      .array(
        z.object({
          obis: z.string().regex(/^\d+-\d+:\d+\.\d+\.\d+$/, 'must be an OBIS code like "1-0:1.8.0"'),
          value: z.number().finite(),
          unit: z.string().max(8).optional(),
        }),
      )
      .min(1)
      .max(64),
  })
  .loose();

export function parseGenericPayload(payload: Buffer): MeterFrame {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new GatewayError('PAYLOAD_MALFORMED', 'payload is not JSON');
  }
  const parsed = GenericPayload.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new GatewayError('PAYLOAD_MALFORMED', `${issue.path.join('.') || '(payload)'}: ${issue.message}`);
  }
  const { time, values } = parsed.data;
  return {
    ...(time ? { time: { kind: 'epoch' as const, epochMs: Date.parse(time) } } : {}),
    values: values.map((v) => ({ obis: v.obis, value: v.value, unit: v.unit })),
  };
}
