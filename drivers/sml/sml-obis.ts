/**
 * OBIS codes of SML_ListEntry.objName: six bytes A B C D E F (IEC 62056-61), written the way MeterFrame
 * normalises them (drivers/common/meter-frame.ts): "A-B:C.D.E", with "*F" only when F is not 255.
 */
import { GatewayError } from '../../gateway/errors.ts';

/** "1-0:1.8.0" for 01 00 01 08 00 ff; "1-0:1.8.0*1" for F = 1. */
export function formatObis(name: Uint8Array): string {
  if (name.length !== 6) throw new GatewayError('FRAME_MALFORMED', 'SML objName is not a 6-byte OBIS code');
  const [a, b, c, d, e, f] = name as unknown as [number, number, number, number, number, number];
  return `${a}-${b}:${c}.${d}.${e}${f === 255 ? '' : `*${f}`}`;
}

const OBIS = /^(?:(\d{1,3})-(\d{1,3}):)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\*(\d{1,3}))?$/;

/** The six bytes of "A-B:C.D.E[*F]" (F = 255 when left out, "1-0:" when A-B is); undefined when malformed. */
export function obisBytes(code: string): Buffer | undefined {
  const match = OBIS.exec(code);
  if (!match) return undefined;
  const [, a = '1', b = '0', c, d, e, f = '255'] = match;
  const bytes = [a, b, c, d, e, f].map(Number);
  return bytes.every((n) => n <= 255) ? Buffer.from(bytes) : undefined;
}
