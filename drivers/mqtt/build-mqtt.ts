/** One driver for every MQTT meter, subscribed to the local meter broker of `drivers.mqtt`. */
import type { Config, MeterConfig } from '../../gateway/config/schema.ts';
import type { PackingLayout } from '../../gateway/encrypt/packing.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { loadPublicKey, readSecretFile } from '../../gateway/keys/files.ts';
import { guardedConnect, inboundTooLarge } from '../../gateway/uplink/packet-size-guard.ts';
import { seriesOptions } from '../common/series-options.ts';
import type { DriverContext } from '../driver.ts';
import { parseGenericPayload } from './generic-payload.ts';
import { MqttMeterDriver, type MqttConnect, type MqttMeter } from './mqtt-meter-driver.ts';
import { parseSealedPayload } from './sealed-payload.ts';
import { parseTasmotaPayload } from './tasmota-payload.ts';

/**
 * Above this, a packet from the meter broker is cut off at its fixed header, unread (gateway/uplink/
 * packet-size-guard.ts): whoever can publish on the local broker cannot make the gateway hold a 256 MB packet.
 * Between the payload limit (64 KiB, mqtt-meter-driver.ts) and this, a packet is read and refused as FRAME_TOO_LONG
 * against its meter, which says more than a dropped connection would.
 */
export const METER_BROKER_MAX_PACKET_BYTES = 8 * 1024 * 1024;

export function buildMqttDriver(
  config: Readonly<Config>,
  contextFor: (meters: MeterConfig[], component: string) => DriverContext,
  connect: MqttConnect,
  layout: PackingLayout | undefined,
): MqttMeterDriver | undefined {
  const m = config.drivers.mqtt;
  const meters = config.meters.filter((x) => x.source.driver === 'mqtt');
  if (!m || meters.length === 0) return undefined;
  const mqttMeters = meters.flatMap((meter): MqttMeter[] => {
    const s = meter.source;
    if (s.driver !== 'mqtt') return [];
    if (s.format === 'sealed') {
      if (!layout) throw new GatewayError('DRIVER_FAILED', 'sealed meters need the packing layout');
      // The rules require publicKey for this format; the layout comes from the gateway's own keys.
      const key = loadPublicKey(s.publicKey!, 'ed25519', `public key of meter ${meter.id}`);
      const parse = (p: Buffer) => parseSealedPayload(p, key, layout);
      return [{ kind: 'sealed', topic: s.topic, meterId: meter.id, parse }];
    }
    const parse =
      s.format === 'tasmota'
        ? (p: Buffer) => parseTasmotaPayload(p, { energyPath: s.energyPath, unit: s.unit })
        : parseGenericPayload;
    return [{ kind: 'frames', topic: s.topic, parse, series: seriesOptions(config, meter, m, s.registers) }];
  });
  const client = {
    clientId: m.clientId ?? `meters-${config.gateway.id}`,
    clean: true,
    reconnectPeriod: 2000,
    connectTimeout: 10_000,
    ...(m.username !== undefined ? { username: m.username } : {}),
    ...(m.passwordFile !== undefined
      ? { password: readSecretFile(m.passwordFile, 'meter broker password file').trim() }
      : {}),
  };
  const ctx = contextFor(meters, 'mqtt');
  const guarded = guardedConnect(connect, {
    maxBytes: METER_BROKER_MAX_PACKET_BYTES,
    onOversize: inboundTooLarge(ctx.metrics, ctx.log, 'driver.mqtt.inbound_too_large'),
  });
  return new MqttMeterDriver({ url: m.url, client, meters: mqttMeters }, ctx, guarded);
}
