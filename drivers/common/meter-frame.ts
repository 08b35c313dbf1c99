/**
 * What every protocol parser produces: one verified frame of a meter (a DSMR telegram, an IEC 62056-21 data
 * block, an SML file, a Modbus register read, an MQTT payload), as OBIS-style quantities. Parsers are pure
 * functions (bytes in, a MeterFrame or a typed error out); the driver turns frames into interval Readings
 * (`drivers/common/register-intervals.ts`).
 *
 * Values are plaintext meter data (privacy invariant 1): a frame lives in memory only and is never logged.
 */
import type { WallParts } from '../../gateway/time/zoned.ts';

/** A wall-clock time as the meter sent it, without a zone (DSMR, IEC 62056-21 send local time). */
export interface LocalTimestamp extends WallParts {
  /** Daylight-saving flag where the protocol sends one (DSMR: "S" summer = true, "W" winter = false). */
  dst?: boolean;
}

/** The meter's own time: local (to be placed in the meter's configured zone) or an absolute instant. */
export type MeterTime = { kind: 'local'; local: LocalTimestamp } | { kind: 'epoch'; epochMs: number };

export interface ObisValue {
  /**
   * Normalised OBIS code "A-B:C.D.E" (IEC 62056-61), e.g. "1-0:1.8.1"; the F group ("*255", "&01") is dropped
   * unless it is not 255, then kept as "*F". Codes sent without A-B ("1.8.0") are given "1-0:" (electricity).
   */
  obis: string;
  /** Numeric value as sent, scaled (SML scaler, Modbus scale) but not unit-converted. */
  value: number;
  /** Unit as sent ("kWh", "Wh", "kW", "W", "V", "A", "m3"...), undefined when the meter sends none. */
  unit: string | undefined;
  /** Time attached to this value (DSMR M-Bus "0-1:24.2.1(ts)(value)", IEC "1.6.0(value)(ts)"). */
  time?: MeterTime;
}

export interface MeterFrame {
  /** The meter's identification where the frame carries one (DSMR header "/ISk5...", SML server id). */
  identification?: string;
  /** Equipment identifier / serial number where present (DSMR 0-0:96.1.1, IEC 0.0.0, SML 1-0:96.1.0). */
  serial?: string;
  /** The meter's own clock at the time of the frame (DSMR 0-0:1.0.0, IEC 0.9.1 + 0.9.2, SML actTime). */
  time?: MeterTime;
  /** Every numeric value of the frame; text values (messages, ids) are not kept. */
  values: ObisValue[];
}
