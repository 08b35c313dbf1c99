/** One driver for every Modbus meter: the poller runs one loop per bus (RTU port or TCP host). */
import type { Config, MeterConfig } from '../../gateway/config/schema.ts';
import { seriesOptions } from '../common/series-options.ts';
import type { DriverContext } from '../driver.ts';
import { ModbusMeterDriver } from './modbus-meter-driver.ts';
import { loadRegisterMap } from './register-map.ts';
import type { ModbusEndpoint, TransportFactory } from './transport.ts';

export function buildModbusDriver(
  config: Readonly<Config>,
  contextFor: (meters: MeterConfig[], component: string) => DriverContext,
  transport: TransportFactory,
): ModbusMeterDriver | undefined {
  const mb = config.drivers.modbus;
  const meters = config.meters.filter((m) => m.source.driver === 'modbus');
  if (!mb || meters.length === 0) return undefined;
  const endpoint = (busName: string): ModbusEndpoint => {
    const bus = mb.buses[busName]!;
    if (bus.transport === 'tcp') return { kind: 'tcp', host: bus.host, port: bus.port };
    const { path, baudRate, parity, dataBits, stopBits } = bus;
    return { kind: 'rtu', path, baudRate, parity, dataBits, stopBits };
  };
  return new ModbusMeterDriver(
    {
      intervalMs: mb.pollSeconds * 1000,
      timeoutMs: mb.timeoutMs,
      retries: mb.retries,
      backoffInitialMs: mb.pollSeconds * 1000,
      backoffMaxMs: mb.backoffMaxSeconds * 1000,
      meters: meters.flatMap((meter) => {
        const s = meter.source;
        if (s.driver !== 'modbus') return [];
        return [
          {
            device: {
              id: meter.id,
              endpoint: endpoint(s.bus),
              unitId: s.unit,
              map: loadRegisterMap(s.model),
              // The meter's own answer timeout and retries (config), else the poller's defaults.
              ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
              ...(s.retries !== undefined ? { retries: s.retries } : {}),
            },
            // Modbus carries no time: samples are placed by the gateway's clock.
            series: seriesOptions(config, meter, mb, s.registers),
          },
        ];
      }),
    },
    contextFor(meters, 'modbus'),
    transport,
  );
}
