/**
 * The emulator's Modbus TCP server, read by modbus-serial's own client (a real peer): the served registers decode
 * to the provider's values, and requests a meter would refuse get the meter's exception codes.
 */
import modbusSerial from 'modbus-serial';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRegisters } from '../../../drivers/modbus/decode.ts';
import { planReads } from '../../../drivers/modbus/read-plan.ts';
import { loadRegisterMap } from '../../../drivers/modbus/register-map.ts';
import {
  readUnitRegisters,
  RegisterServer,
  type ServedUnit,
} from '../../../drivers/modbus/register-server.ts';
import { freePort } from '../../helpers/ports.ts';

const sdm630 = loadRegisterMap('eastron-sdm630');
const em24 = loadRegisterMap('carlo-gavazzi-em24');
const values: Record<string, number> = { '1-0:1.8.0': 4321.5, '1-0:32.7.0': 229.5, '1-0:14.7.0': 49.9 };
const unit = (unitId: number, map = sdm630): ServedUnit => ({ unitId, map, values: (o) => values[o] });

/** The Modbus exception code a read fails with, or undefined. */
async function exceptionOf(read: Promise<unknown>): Promise<number | undefined> {
  try {
    await read;
    return undefined;
  } catch (error) {
    return (error as { modbusCode?: number }).modbusCode;
  }
}

describe('readUnitRegisters (the server core)', () => {
  it('serves mapped registers with their values and unmapped ones inside the map as 0', () => {
    const words = readUnitRegisters(unit(1), 4, 0x44, 6); // 0x44 (unmapped), Frequency 0x46, Import 0x48
    expect(words).toEqual([0, 0, 0x4247, 0x999a, 0x4587, 0x0c00]);
  });

  it('answers like the meter: 02 outside the map or with the wrong function, 03 past maxReadWords, 04 on a failure', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as { modbusErrorCode?: number }).modbusErrorCode;
      }
      return undefined;
    };
    expect(code(() => readUnitRegisters(unit(1), 4, 0x178, 2))).toBe(2);
    expect(code(() => readUnitRegisters(unit(1), 3, 0, 2))).toBe(2);
    expect(code(() => readUnitRegisters(unit(1), 4, 0, 82))).toBe(3);
    const failing: ServedUnit = { unitId: 1, map: sdm630, values: () => Number.NaN };
    expect(code(() => readUnitRegisters(failing, 4, 0, 2))).toBeUndefined(); // a float may be NaN
    const broken: ServedUnit = { unitId: 1, map: em24, values: () => Number.NaN };
    expect(code(() => readUnitRegisters(broken, 4, 0, 2))).toBe(4); // an int32 cannot be
  });
});

describe('RegisterServer over TCP', () => {
  let server: RegisterServer;
  let gateway: RegisterServer;
  let client: InstanceType<typeof modbusSerial.default>;
  let port: number;
  let gatewayPort: number;

  beforeAll(async () => {
    port = await freePort();
    server = new RegisterServer({ endpoint: { kind: 'tcp', port }, units: [unit(1), unit(7, em24)] });
    await server.start();
    gatewayPort = await freePort();
    gateway = new RegisterServer({
      endpoint: { kind: 'tcp', port: gatewayPort },
      units: [],
      unknownUnit: 'exception',
    });
    await gateway.start();
    client = new modbusSerial.default();
    client.setTimeout(200);
    await client.connectTCP('127.0.0.1', { port });
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => client.close(() => resolve()));
    await server.stop();
    await gateway.stop();
  });

  it('serves every planned read of two unit ids with different maps', async () => {
    for (const [unitId, map] of [
      [1, sdm630],
      [7, em24],
    ] as const) {
      client.setID(unitId);
      const blocks = [];
      for (const b of planReads(map).blocks) {
        const { data } = await client.readInputRegisters(b.address, b.length);
        blocks.push({ address: b.address, words: data });
      }
      const { frame } = decodeRegisters(map, blocks);
      expect(frame.values.filter((v) => v.obis in values)).toEqual([
        { obis: '1-0:32.7.0', value: 229.5, unit: 'V' },
        { obis: '1-0:14.7.0', value: map === em24 ? 49.9 : Math.fround(49.9), unit: 'Hz' },
        { obis: '1-0:1.8.0', value: 4321.5, unit: 'kWh' },
      ]);
    }
    expect(server.requests.get(1)).toBe(planReads(sdm630).blocks.length);
  });

  it('sends exception responses a real client reads as such', async () => {
    client.setID(1);
    expect(await exceptionOf(client.readInputRegisters(0x178, 2))).toBe(2);
    expect(await exceptionOf(client.readHoldingRegisters(0, 2))).toBe(2);
    expect(await exceptionOf(client.readInputRegisters(0, 82))).toBe(3);
  });

  it('leaves a unit id nobody serves unanswered (the client times out), or answers 0B as a gateway', async () => {
    client.setID(2);
    const error = await client.readInputRegisters(0, 2).catch((e: unknown) => e);
    expect(error).toMatchObject({ errno: 'ETIMEDOUT' });
    const viaGateway = new modbusSerial.default();
    viaGateway.setTimeout(200);
    await viaGateway.connectTCP('127.0.0.1', { port: gatewayPort });
    viaGateway.setID(3);
    expect(await exceptionOf(viaGateway.readInputRegisters(0, 2))).toBe(11);
    await new Promise<void>((resolve) => viaGateway.close(() => resolve()));
  });
});
