/**
 * The frame an emulated meter sends at emulated time `t`, per protocol, from its register (Wh). The register is
 * split over the two DSMR tariff registers (40 % / 60 %, each non-decreasing), as a real Dutch meter reports
 * low and normal tariff separately; the gateway adds them up again.
 */
import type { DsmrVersion } from '../../../drivers/dsmr/dsmr-version.ts';
import { writeTelegram } from '../../../drivers/dsmr/telegram-writer.ts';
import { writeModeDPush } from '../../../drivers/iec62056-21/data-writer.ts';
import { buildSmlFile } from '../../../drivers/sml/sml-writer.ts';
import { localMeterTime, localTimestamp } from './meter-time.ts';

export interface FrameInput {
  t: number;
  registerWh: number;
  powerW: number;
  timeZone: string;
  serial: string;
}

export function dsmrFrame(version: DsmrVersion, x: FrameInput): Buffer {
  const wh = Math.round(x.registerWh);
  const low = Math.floor(wh * 0.4);
  const kwh = (v: number) => ({ value: v / 1000, unit: 'kWh' });
  return writeTelegram({
    version,
    identification: 'EMU5\\2EMULATED-P1',
    time: localMeterTime(x.t, x.timeZone),
    serial: x.serial,
    values: [
      { obis: '1-0:1.8.1', ...kwh(low) },
      { obis: '1-0:1.8.2', ...kwh(wh - low) },
      { obis: '1-0:2.8.1', ...kwh(0) },
      { obis: '1-0:2.8.2', ...kwh(0) },
      { obis: '1-0:1.7.0', value: x.powerW / 1000, unit: 'kW' },
    ],
  });
}

/** SML server ids are 10 bytes; eHZ write 0x09 (length) then manufacturer and serial. */
const SERVER_ID = Buffer.from('0901454d5501000000ff', 'hex');

/**
 * An eHZ sends its register in 0.1 Wh and no absolute time (a seconds index); `absoluteTime` adds one so that
 * the gateway can place the sample by the meter's clock (as SML permits, TR-03109-1 SML_Time).
 */
export function smlFrame(x: FrameInput, seq: number, absoluteTime: boolean): Buffer {
  return buildSmlFile({
    serverId: SERVER_ID,
    transactionId: seq * 3 + 1,
    sensorTime: absoluteTime ? { epochMs: x.t } : { secIndex: Math.floor(x.t / 1000) % 2 ** 32 },
    entries: [
      { obis: '1-0:1.8.0', unit: 'Wh', scaler: -1, value: BigInt(Math.round(x.registerWh * 10)) },
      { obis: '1-0:16.7.0', unit: 'W', scaler: 0, value: BigInt(Math.round(x.powerW)) },
    ],
  });
}

export function iecModeDFrame(x: FrameInput): Buffer {
  return writeModeDPush(
    { manufacturer: 'EMU', baudChar: '4', ident: 'EMULATED-D0' },
    [{ obis: '1-0:1.8.0', value: Number((x.registerWh / 1000).toFixed(3)), unit: 'kWh' }],
    { serial: x.serial, time: localTimestamp(x.t, x.timeZone) },
  );
}
