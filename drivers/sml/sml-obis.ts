/**
 * OBIS codes of SML_ListEntry.objName: six bytes A B C D E F (IEC 62056-61), written the way MeterFrame
 * normalises them (drivers/common/meter-frame.ts): "A-B:C.D.E", with "*F" only when F is not 255.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { formatObis as formatObisCode, parseObis } from '../common/obis.ts';

/** "1-0:1.8.0" for 01 00 01 08 00 ff; "1-0:1.8.0*1" for F = 1. */
export function formatObis(name: Uint8Array): string {
  if (name.length !== 6) throw new GatewayError('FRAME_MALFORMED', 'SML objName is not a 6-byte OBIS code');
  const [a, b, c, d, e, f] = name as unknown as [number, number, number, number, number, number];
  return formatObisCode({ a, b, c, d, e, ...(f === 255 ? {} : { f }) });
}

/** The six bytes of "A-B:C.D.E[*F]" (F = 255 when left out, "1-0:" when A-B is); undefined when malformed. */
export function obisBytes(text: string): Buffer | undefined {
  const code = parseObis(text);
  return code && Buffer.from([code.a, code.b, code.c, code.d, code.e, code.f ?? 255]);
}
