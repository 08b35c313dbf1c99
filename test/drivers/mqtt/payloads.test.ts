/**
 * MQTT meter payloads: Tasmota SENSOR JSON (the ENERGY example of Tasmota's "JSON Status Responses" page, and a
 * meter script's custom prefix) and the gateway's generic JSON; every malformed payload is PAYLOAD_MALFORMED with
 * its reason, and random bytes never escape as anything else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../helpers/fuzz.ts';
import { importEnergyWh } from '../../../drivers/common/import-energy.ts';
import { parseGenericPayload } from '../../../drivers/mqtt/generic-payload.ts';
import { parseTasmotaPayload } from '../../../drivers/mqtt/tasmota-payload.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { expectCode } from '../../helpers/expect-code.ts';

const TASMOTA = { energyPath: 'ENERGY.Total', unit: 'kWh' } as const;
const b = (s: string) => Buffer.from(s);

describe('Tasmota SENSOR payload', () => {
  it('reads ENERGY.Total in kWh and the local Time (Tasmota docs example)', () => {
    const frame = parseTasmotaPayload(
      b(
        '{"Time":"2018.02.04 23:17:01","ENERGY":{"Total":3.185,"Yesterday":3.058,"Today":0.127,"Power":0,"Factor":0.00,"Voltage":221,"Current":0.000}}',
      ),
      TASMOTA,
    );
    expect(frame.time).toEqual({
      kind: 'local',
      local: { year: 2018, month: 2, day: 4, hour: 23, minute: 17, second: 1 },
    });
    expect(importEnergyWh(frame)).toBe(3185);
  });

  it('follows a configured path and unit (an SML script with its own prefix)', () => {
    const frame = parseTasmotaPayload(b('{"Time":"2024-03-01T12:00:00","SML":{"Total_in":"4373.5"}}'), {
      energyPath: 'SML.Total_in',
      unit: 'Wh',
    });
    expect(importEnergyWh(frame)).toBe(4373.5);
  });

  it('rejects what is not a usable reading', () => {
    for (const bad of [
      'not json',
      '{"Time":"x"}',
      '{"ENERGY":{"Total":-1}}',
      '{"ENERGY":{"Total":"abc"}}',
      '[]',
      'null',
    ]) {
      expectCode('PAYLOAD_MALFORMED', () => parseTasmotaPayload(b(bad), TASMOTA));
    }
    // A payload without a time is placed by the gateway's clock.
    expect(parseTasmotaPayload(b('{"ENERGY":{"Total":1}}'), TASMOTA).time).toBeUndefined();
  });
});

describe('generic payload', () => {
  it('reads OBIS values and an absolute time', () => {
    const frame = parseGenericPayload(
      b(
        '{"time":"2024-03-01T12:00:00+01:00","values":[{"obis":"1-0:1.8.1","value":1.5,"unit":"kWh"},{"obis":"1-0:1.8.2","value":2,"unit":"kWh"}]}',
      ),
    );
    expect(frame.time).toEqual({ kind: 'epoch', epochMs: Date.parse('2024-03-01T11:00:00Z') });
    expect(importEnergyWh(frame)).toBe(3500);
  });

  it('names the problem of a malformed payload', () => {
    const reason = (text: string) => {
      try {
        parseGenericPayload(b(text));
      } catch (error) {
        expect(isGatewayError(error, 'PAYLOAD_MALFORMED')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(reason('{"values":[]}')).toMatch(/^values/);
    expect(reason('{"values":[{"obis":"1.8.0","value":1}]}')).toMatch(/^values\.0\.obis/);
    expect(reason('{"time":"2024-03-01 12:00","values":[{"obis":"1-0:1.8.0","value":1}]}')).toMatch(/^time/);
    expect(reason('{')).toMatch(/not JSON/);
  });

  it('property: random bytes are a reading or PAYLOAD_MALFORMED, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 200 }), (bytes, text) => {
        for (const input of [Buffer.from(bytes), Buffer.from(text)]) {
          for (const parse of [parseGenericPayload, (p: Buffer) => parseTasmotaPayload(p, TASMOTA)]) {
            try {
              parse(input);
            } catch (error) {
              expect(isGatewayError(error, 'PAYLOAD_MALFORMED')).toBe(true);
            }
          }
        }
      }),
      { numRuns: fuzzRuns(1000) },
    );
  });
});
