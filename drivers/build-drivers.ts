/**
 * Builds the drivers the configuration asks for: one replay driver for the emulated CSV meters, one driver per
 * serial port. Called by the composition root; each driver gets the context of its own meters only.
 */
import mqtt from 'mqtt';
import type { Config, MeterConfig } from '../gateway/config/schema.ts';
import { readSecretFile } from '../gateway/keys/files.ts';
import type { Driver, DriverContext } from './driver.ts';
import { ModeCDriver } from './iec62056-21/mode-c-driver.ts';
import { ModbusMeterDriver } from './modbus/modbus-meter-driver.ts';
import { loadRegisterMap } from './modbus/register-map.ts';
import { modbusSerialTransport, type ModbusEndpoint, type TransportFactory } from './modbus/transport.ts';
import { parseGenericPayload } from './mqtt/generic-payload.ts';
import { MqttMeterDriver, type MqttConnect, type MqttMeter } from './mqtt/mqtt-meter-driver.ts';
import { parseTasmotaPayload } from './mqtt/tasmota-payload.ts';
import { ReplayDriver } from './replay/replay-driver.ts';
import { PushMeterDriver } from './serial/push-meter-driver.ts';
import { pushProtocolFor } from './serial/protocols.ts';
import { openSerialPort, type PortOpener } from './serial/serial-link.ts';

export interface BuildOptions {
  /** No timers: the caller polls (benchmark). */
  manual: boolean;
  /** The serial transport (tests may inject another). */
  openPort?: PortOpener;
  /** The MQTT client factory for MQTT meters. */
  connectMqtt?: MqttConnect;
  /** The Modbus transport factory. */
  modbusTransport?: TransportFactory;
}

export function buildDrivers(
  config: Readonly<Config>,
  contextFor: (meters: MeterConfig[], component: string) => DriverContext,
  opts: BuildOptions,
): Driver[] {
  const drivers: Driver[] = [];
  const replayMeters = config.meters.filter((m) => m.source.driver === 'replay');
  if (replayMeters.length > 0 && config.drivers.replay) {
    const r = config.drivers.replay;
    drivers.push(
      new ReplayDriver(
        { file: r.file, timeZone: r.timezone ?? config.gateway.timezone, pollMs: opts.manual ? 0 : r.pollMs },
        contextFor(replayMeters, 'replay'),
      ),
    );
  }
  const intervalMs = config.intervals.minutes * 60_000;
  for (const meter of config.meters) {
    const source = meter.source;
    if (source.driver !== 'serial') continue;
    // The schema's cross-field rules guarantee the port exists.
    const port = config.drivers.serial![source.port]!;
    const ctx = contextFor([meter], `serial:${source.port}`);
    const series = {
      meterId: meter.id,
      intervalMs,
      maxSampleGapMs: port.maxSampleGapSeconds * 1000,
      timeZone: port.timezone ?? config.gateway.timezone,
      trustMeterClock: port.trustMeterClock,
      maxSkewMs: port.maxClockSkewSeconds * 1000,
      ...(source.registers ? { registers: source.registers } : {}),
    };
    const link = {
      name: source.port,
      path: port.path,
      silenceMs: port.silenceSeconds * 1000,
      reopenInitialMs: 1000,
      reopenMaxMs: port.reopenMaxSeconds * 1000,
    };
    if (port.protocol === 'iec62056-21' && port.iec.mode === 'C') {
      drivers.push(
        new ModeCDriver(
          {
            // A polled port is quiet between readouts: silent means no answer for three polls.
            link: { ...link, silenceMs: Math.max(link.silenceMs, 3 * port.iec.pollSeconds * 1000) },
            session: { address: port.iec.address, maxBaud: port.iec.maxBaudRate },
            pollMs: port.iec.pollSeconds * 1000,
            series,
          },
          ctx,
          opts.openPort ?? openSerialPort,
        ),
      );
      continue;
    }
    const protocol = pushProtocolFor(port);
    drivers.push(
      new PushMeterDriver(
        protocol,
        {
          link: {
            ...link,
            line: {
              baudRate: port.line.baudRate ?? protocol.line.baudRate,
              dataBits: port.line.dataBits ?? protocol.line.dataBits,
              parity: port.line.parity ?? protocol.line.parity,
              stopBits: port.line.stopBits ?? protocol.line.stopBits,
            },
          },
          series,
        },
        ctx,
        opts.openPort ?? openSerialPort,
      ),
    );
  }
  const mqttMeters = mqttMetersOf(config);
  if (mqttMeters.length > 0 && config.drivers.mqtt) {
    const m = config.drivers.mqtt;
    drivers.push(
      new MqttMeterDriver(
        {
          url: m.url,
          client: {
            clientId: m.clientId ?? `meters-${config.gateway.id}`,
            clean: true,
            reconnectPeriod: 2000,
            connectTimeout: 10_000,
            ...(m.username !== undefined ? { username: m.username } : {}),
            ...(m.passwordFile !== undefined
              ? { password: readSecretFile(m.passwordFile, 'meter broker password file').trim() }
              : {}),
          },
          meters: mqttMeters,
        },
        contextFor(
          config.meters.filter((x) => x.source.driver === 'mqtt'),
          'mqtt',
        ),
        opts.connectMqtt ?? ((url, o) => mqtt.connect(url, o)),
      ),
    );
  }
  const modbus = modbusDriver(config, contextFor, opts);
  if (modbus) drivers.push(modbus);
  return drivers;
}

function modbusDriver(
  config: Readonly<Config>,
  contextFor: (meters: MeterConfig[], component: string) => DriverContext,
  opts: BuildOptions,
): ModbusMeterDriver | undefined {
  const mb = config.drivers.modbus;
  const meters = config.meters.filter((m) => m.source.driver === 'modbus');
  if (!mb || meters.length === 0) return undefined;
  const intervalMs = config.intervals.minutes * 60_000;
  return new ModbusMeterDriver(
    {
      intervalMs: mb.pollSeconds * 1000,
      timeoutMs: mb.timeoutMs,
      retries: mb.retries,
      backoffInitialMs: mb.pollSeconds * 1000,
      backoffMaxMs: mb.backoffMaxSeconds * 1000,
      meters: meters.map((meter) => {
        const s = meter.source;
        if (s.driver !== 'modbus') throw new Error('unreachable');
        const bus = mb.buses[s.bus]!;
        const endpoint: ModbusEndpoint =
          bus.transport === 'tcp'
            ? { kind: 'tcp', host: bus.host, port: bus.port }
            : {
                kind: 'rtu',
                path: bus.path,
                baudRate: bus.baudRate,
                parity: bus.parity,
                dataBits: bus.dataBits,
                stopBits: bus.stopBits,
              };
        return {
          device: { id: meter.id, endpoint, unitId: s.unit, map: loadRegisterMap(s.model) },
          series: {
            meterId: meter.id,
            intervalMs,
            maxSampleGapMs: mb.maxSampleGapSeconds * 1000,
            timeZone: config.gateway.timezone,
            trustMeterClock: false,
            maxSkewMs: Number.MAX_SAFE_INTEGER,
            ...(s.registers ? { registers: s.registers } : {}),
          },
        };
      }),
    },
    contextFor(meters, 'modbus'),
    opts.modbusTransport ?? modbusSerialTransport,
  );
}

function mqttMetersOf(config: Readonly<Config>): MqttMeter[] {
  const m = config.drivers.mqtt;
  if (!m) return [];
  const intervalMs = config.intervals.minutes * 60_000;
  return config.meters.flatMap((meter): MqttMeter[] => {
    const s = meter.source;
    if (s.driver !== 'mqtt') return [];
    const parse =
      s.format === 'tasmota'
        ? (p: Buffer) => parseTasmotaPayload(p, { energyPath: s.energyPath, unit: s.unit })
        : parseGenericPayload;
    return [
      {
        topic: s.topic,
        parse,
        series: {
          meterId: meter.id,
          intervalMs,
          maxSampleGapMs: m.maxSampleGapSeconds * 1000,
          timeZone: m.timezone ?? config.gateway.timezone,
          trustMeterClock: m.trustMeterClock,
          maxSkewMs: m.maxClockSkewSeconds * 1000,
          ...(s.registers ? { registers: s.registers } : {}),
        },
      },
    ];
  });
}
