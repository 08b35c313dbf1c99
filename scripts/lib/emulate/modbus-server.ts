/**
 * An emulated Modbus meter: a register server (TCP, or RTU on one end of a pty pair) serving a register map whose
 * import energy register follows the household, with a constant mains voltage and the current power. Where the map
 * names a serial-number register, the meter reports a serial of its own (default derived from the household, like
 * the other emulated meters' `EMU<household>`), so the gateway sees one device per emulated household.
 */
import { emulatedSerial, encodeIdentity } from '../../../drivers/modbus/identity.ts';
import { loadRegisterMap } from '../../../drivers/modbus/register-map.ts';
import { RegisterServer, type ServerEndpoint } from '../../../drivers/modbus/register-server.ts';

export interface ModbusEmulatorOptions {
  endpoint: ServerEndpoint;
  unitId: number;
  model: string;
  registerWh: () => number;
  powerW: () => number;
  /** The household the meter reads (its default serial). */
  household: string;
  /** The serial it reports instead (a number for an integer serial register). */
  serial?: string | undefined;
}

export async function serveModbus(o: ModbusEmulatorOptions): Promise<RegisterServer> {
  const map = loadRegisterMap(o.model);
  const serial = map.identity && (o.serial ?? emulatedSerial(map.identity, o.household));
  // A serial the register cannot hold is refused now, not answered as a device failure at every connect.
  if (map.identity && serial !== undefined) encodeIdentity(map.identity, serial);
  const energyUnit = map.registers.find((r) => r.obis === '1-0:1.8.0')?.unit ?? 'kWh';
  const server = new RegisterServer({
    endpoint: o.endpoint,
    units: [
      {
        unitId: o.unitId,
        map,
        serial: () => serial,
        values: (obis) => {
          if (obis === '1-0:1.8.0') return energyUnit === 'Wh' ? o.registerWh() : o.registerWh() / 1000;
          if (/^1-0:(32|52|72)\.7\.0$/.test(obis)) return 230;
          if (obis === '1-0:16.7.0' || obis === '1-0:1.7.0') return o.powerW();
          return 0;
        },
      },
    ],
  });
  await server.start();
  return server;
}
