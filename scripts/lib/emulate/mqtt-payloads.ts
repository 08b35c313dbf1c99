/**
 * What an emulated MQTT meter publishes: Tasmota's SENSOR JSON (local "Time", `ENERGY.Total` in kWh, as a
 * Tasmota plug or an SML script with the ENERGY prefix sends it) or the gateway's generic JSON
 * (docs/drivers/mqtt.md).
 */
import { wallParts } from '../../../gateway/time/zoned.ts';

const pad = (n: number) => String(n).padStart(2, '0');

export function tasmotaPayload(t: number, registerWh: number, powerW: number, timeZone: string): string {
  const w = wallParts(t, timeZone);
  const time = `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
  return JSON.stringify({
    Time: time,
    ENERGY: { Total: Number((registerWh / 1000).toFixed(3)), Power: Math.round(powerW) },
  });
}

export function genericPayload(t: number, registerWh: number): string {
  return JSON.stringify({
    time: new Date(t).toISOString(),
    values: [{ obis: '1-0:1.8.0', value: Number((registerWh / 1000).toFixed(3)), unit: 'kWh' }],
  });
}
