/**
 * Builds the drivers the configuration asks for: one replay driver for the emulated CSV meters, one driver per
 * serial meter, one for all Modbus meters, one for all MQTT meters. Called by the composition root; each driver
 * gets the context of its own meters only, and its transport injected (STYLE.md §2).
 */
import mqtt from 'mqtt';
import type { Config, MeterConfig } from '../gateway/config/schema.ts';
import type { PackingLayout } from '../gateway/encrypt/packing.ts';
import type { Driver, DriverContext } from './driver.ts';
import { buildModbusDriver } from './modbus/build-modbus.ts';
import { modbusSerialTransport, type TransportFactory } from './modbus/transport.ts';
import { buildMqttDriver } from './mqtt/build-mqtt.ts';
import type { MqttConnect } from './mqtt/mqtt-meter-driver.ts';
import { ReplayDriver } from './replay/replay-driver.ts';
import { buildSerialDrivers } from './serial/build-serial.ts';
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
  /** The gateway's packing layout, which meters that encrypt their own readings must use. */
  layout?: PackingLayout;
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
    const timeZone = r.timezone ?? config.gateway.timezone;
    const pollMs = opts.manual ? 0 : r.pollMs;
    drivers.push(new ReplayDriver({ file: r.file, timeZone, pollMs }, contextFor(replayMeters, 'replay')));
  }
  drivers.push(...buildSerialDrivers(config, contextFor, opts.openPort ?? openSerialPort));
  const modbus = buildModbusDriver(config, contextFor, opts.modbusTransport ?? modbusSerialTransport);
  if (modbus) drivers.push(modbus);
  const connect = opts.connectMqtt ?? ((url, o) => mqtt.connect(url, o));
  const mqttDriver = buildMqttDriver(config, contextFor, connect, opts.layout);
  if (mqttDriver) drivers.push(mqttDriver);
  return drivers;
}
