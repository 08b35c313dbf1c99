/** An emulated meter's clock reading at `t`: local wall time in its zone with the daylight-saving flag (DSMR S/W). */
import type { LocalTimestamp, MeterTime } from '../../../drivers/common/meter-frame.ts';
import { wallParts } from '../../../gateway/time/zoned.ts';

function offsetMinutes(t: number, timeZone: string): number {
  const w = wallParts(t, timeZone);
  return Math.round(
    (Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(t / 1000) * 1000) / 60_000,
  );
}

export function localTimestamp(t: number, timeZone: string): LocalTimestamp {
  const w = wallParts(t, timeZone);
  const year = new Date(t).getUTCFullYear();
  const standard = Math.min(
    offsetMinutes(Date.UTC(year, 0, 1), timeZone),
    offsetMinutes(Date.UTC(year, 6, 1), timeZone),
  );
  return { ...w, dst: offsetMinutes(t, timeZone) > standard };
}

export function localMeterTime(t: number, timeZone: string): MeterTime {
  return { kind: 'local', local: localTimestamp(t, timeZone) };
}
