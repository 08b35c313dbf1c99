/** One driver per configured serial meter: a push driver (DSMR, SML, IEC 62056-21 mode D) or a mode C poller. */
import type { Config, MeterConfig } from '../../gateway/config/schema.ts';
import { seriesOptions } from '../common/series-options.ts';
import type { Driver, DriverContext } from '../driver.ts';
import { ModeCDriver } from '../iec62056-21/mode-c-driver.ts';
import { pushProtocolFor } from './protocols.ts';
import { PushMeterDriver } from './push-meter-driver.ts';
import type { PortOpener } from './serial-link.ts';

export function buildSerialDrivers(
  config: Readonly<Config>,
  contextFor: (meters: MeterConfig[], component: string) => DriverContext,
  open: PortOpener,
): Driver[] {
  const drivers: Driver[] = [];
  for (const meter of config.meters) {
    const source = meter.source;
    if (source.driver !== 'serial') continue;
    // The configuration's cross-field rules guarantee the port exists.
    const port = config.drivers.serial![source.port]!;
    const ctx = contextFor([meter], `serial:${source.port}`);
    const series = seriesOptions(config, meter, port, source.registers);
    const link = {
      name: source.port,
      path: port.path,
      silenceMs: port.silenceSeconds * 1000,
      reopenInitialMs: 1000,
      reopenMaxMs: port.reopenMaxSeconds * 1000,
    };
    if (port.protocol === 'iec62056-21' && port.iec.mode === 'C') {
      const options = {
        // A polled port is quiet between readouts: silent means no answer for three polls.
        link: { ...link, silenceMs: Math.max(link.silenceMs, 3 * port.iec.pollSeconds * 1000) },
        session: { address: port.iec.address, maxBaud: port.iec.maxBaudRate },
        pollMs: port.iec.pollSeconds * 1000,
        series,
      };
      drivers.push(new ModeCDriver(options, ctx, open));
      continue;
    }
    const protocol = pushProtocolFor(port);
    const line = {
      baudRate: port.line.baudRate ?? protocol.line.baudRate,
      dataBits: port.line.dataBits ?? protocol.line.dataBits,
      parity: port.line.parity ?? protocol.line.parity,
      stopBits: port.line.stopBits ?? protocol.line.stopBits,
    };
    // Detection only when the protocol asks for it (DSMR auto) and the config sets no line setting itself.
    const configured = Object.values(port.line).some((v) => v !== undefined);
    const detect =
      protocol.lineCandidates && !configured
        ? { candidates: protocol.lineCandidates, windowMs: port.lineDetectSeconds * 1000 }
        : undefined;
    drivers.push(
      new PushMeterDriver(
        protocol,
        { link: { ...link, line }, series, ...(detect ? { detect } : {}) },
        ctx,
        open,
      ),
    );
  }
  return drivers;
}
