/**
 * scripts/emulate: a meter with no hardware. Replays a household of the consumption data (or a real capture) as a
 * meter speaking a real protocol, on a serial pty pair (socat), over MQTT or as a Modbus TCP server, so that a
 * real gateway can be plugged into it. See docs/drivers/emulators.md.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { DSMR_VERSIONS, type DsmrVersion } from '../drivers/dsmr/dsmr-version.ts';
import { lineSettingsFor } from '../drivers/dsmr/line-settings.ts';
import { encryptSmartyFrame } from '../drivers/dsmr/smarty-frame.ts';
import {
  lineSettings as iecLineSettings,
  MODE_D_BAUD,
  SIGN_ON_BAUD,
} from '../drivers/iec62056-21/protocol.ts';
import type { LineSettings } from '../drivers/serial/serial-link.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { captureChunks } from './lib/emulate/captures.ts';
import { serveModeC } from './lib/emulate/iec-responder.ts';
import { serveModbus } from './lib/emulate/modbus-server.ts';
import { SealedMeter } from './lib/emulate/sealed-meter.ts';
import { dsmrFrame, iecModeDFrame, smlFrame, type FrameInput } from './lib/emulate/frames.ts';
import { loadHousehold, type Household } from './lib/emulate/household.ts';
import { genericPayload, tasmotaPayload } from './lib/emulate/mqtt-payloads.ts';
import { parseLineSpec } from './lib/emulate/line-spec.ts';
import { openSerialOutput, type SerialOutput } from './lib/emulate/serial-output.ts';
import { TimeLoop } from './lib/emulate/time-loop.ts';
import { openPtyPair } from './lib/pty-pair.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const PROTOCOLS = ['dsmr', 'sml', 'iec62056-21', 'mqtt', 'modbus-tcp', 'modbus-rtu'] as const;
type Protocol = (typeof PROTOCOLS)[number];

const HELP = `Usage: scripts/emulate <protocol> [options]

Emulates one meter from recorded data so that a gateway can read it with no hardware.

Protocols:
  dsmr           DSMR P1 telegrams on a serial device (Dutch/Belgian smart meters)
  sml            SML files on a serial device (German eHZ meters)
  iec62056-21    IEC 62056-21 on a serial device: answers mode C readouts, or pushes mode D (--iec-mode D)
  mqtt           Tasmota SENSOR JSON or the gateway's generic JSON published to an MQTT broker
  modbus-tcp     a Modbus TCP meter (register map of --model)
  modbus-rtu     a Modbus RTU meter on a serial device (RS-485 bus)

Meter data:
  --csv FILE          consumption CSV (default: the committed fixture test/fixtures/consumption/...)
  --household ID      customer_id to replay (default: the first in the CSV)
  --start ISO         emulated time to start at (default: the first recorded interval)
  --speed N           emulated seconds per real second (default 1; 1440 = a day per minute)
  --step S            emulated seconds between frames (default: dsmr 10, sml 2, iec62056-21 60, mqtt 60)
  --days N            stop after N emulated days (default: when the data ends)
  --until ISO         stop at this emulated time instead
  --anchor ISO        real instant at which emulated time is --start (default: now); give the gateway's
                      clock.anchor to share its virtual timeline
  --initial-kwh N     register value before the first interval (default 12345.678)
  --timezone TZ       zone of the CSV and of the meter clock (default UTC)
  --serial S          the meter's serial number (default EMU + the household id: each emulated meter is its own
                      device to the gateway, which binds a serial to one meter for life); a Modbus meter whose
                      map keeps a numeric serial takes a number (default the household id, or one derived from it)
  --capture FILE      send a real capture verbatim instead (dsmr: a telegram per --step; sml, iec62056-21:
                      the bytes in order), looping

Serial (dsmr, sml, iec62056-21):
  --pty DIR           make a pty pair: the gateway opens DIR/gateway (default var/emulate/<protocol>)
  --device PATH       write to this serial device instead (a USB adapter wired to the gateway's)
  --dsmr-version V    ${DSMR_VERSIONS.join(', ')} (default 5.0): telegram format and line settings
  --line BAUD:FMT     line settings instead of the protocol's, e.g. 115200:7E1 (a DSMR 4 meter that sends 7E1);
                      7-bit characters go out with their parity bit, as on a real line
  --smarty-key HEX    dsmr: encrypt each telegram as a Luxembourg Smarty meter does (AES-128-GCM, 32 hex digits)
  --sml-absolute-time send an absolute time in each SML file (eHZ send only a seconds index)

IEC 62056-21:
  --iec-mode M        C (default): answer readouts, 300 baud sign-on up to 9600; D: push every --step at 2400

Modbus:
  --port N            TCP port (default 5020)
  --unit ID           unit id (default 1)
  --model M           eastron-sdm630 (default), eastron-sdm120, carlo-gavazzi-em24, or a map file

MQTT:
  --broker URL        broker (default mqtt://127.0.0.1:1883)
  --topic T           topic (default tele/emulated-meter/SENSOR)
  --format F          tasmota (default), generic, or sealed: one reading per interval, encrypted under the
                      supplier's key and signed with --meter-key (needs --gateway-config for the layout)
  --meter-key FILE    sealed: the meter's Ed25519 private key (scripts/keygen meter)
  --gateway-config F  sealed: the gateway's configuration (packing layout, tariff bands, supplier key)

  -h, --help          show this help`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      csv: { type: 'string' },
      household: { type: 'string' },
      start: { type: 'string' },
      speed: { type: 'string', default: '1' },
      step: { type: 'string' },
      days: { type: 'string' },
      until: { type: 'string' },
      anchor: { type: 'string' },
      'initial-kwh': { type: 'string', default: '12345.678' },
      timezone: { type: 'string', default: 'UTC' },
      serial: { type: 'string' },
      capture: { type: 'string' },
      pty: { type: 'string' },
      device: { type: 'string' },
      'dsmr-version': { type: 'string', default: '5.0' },
      'sml-absolute-time': { type: 'boolean', default: false },
      'smarty-key': { type: 'string' },
      line: { type: 'string' },
      broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      topic: { type: 'string', default: 'tele/emulated-meter/SENSOR' },
      format: { type: 'string', default: 'tasmota' },
      'iec-mode': { type: 'string', default: 'C' },
      'meter-key': { type: 'string' },
      'gateway-config': { type: 'string' },
      port: { type: 'string', default: '5020' },
      unit: { type: 'string', default: '1' },
      model: { type: 'string', default: 'eastron-sdm630' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const protocol = positionals[0] as Protocol | undefined;
  if (!protocol || !PROTOCOLS.includes(protocol)) throw new UsageError('give a protocol', HELP);
  const speed = Number(values.speed);
  if (!(speed >= 0.1 && speed <= 100_000)) throw new UsageError('--speed: 0.1 to 100000', HELP);
  const version = values['dsmr-version'] as DsmrVersion;
  if (!DSMR_VERSIONS.includes(version))
    throw new UsageError(`--dsmr-version: one of ${DSMR_VERSIONS.join(', ')}`, HELP);
  if (!['tasmota', 'generic', 'sealed'].includes(values.format))
    throw new UsageError('--format: tasmota, generic or sealed', HELP);
  if (values.format === 'sealed' && (!values['meter-key'] || !values['gateway-config']))
    throw new UsageError('--format sealed needs --meter-key and --gateway-config', HELP);
  if (values['iec-mode'] !== 'C' && values['iec-mode'] !== 'D')
    throw new UsageError('--iec-mode: C or D', HELP);
  const stepS = Number(
    values.step ??
      { dsmr: 10, sml: 2, 'iec62056-21': 60, mqtt: 60, 'modbus-tcp': 10, 'modbus-rtu': 10 }[protocol],
  );
  if (!(stepS >= 1 && stepS <= 3600)) throw new UsageError('--step: 1 to 3600 seconds', HELP);
  const smartyKey = values['smarty-key'];
  if (smartyKey !== undefined && !/^[0-9A-Fa-f]{32}$/.test(smartyKey))
    throw new UsageError('--smarty-key: 32 hex digits', HELP);
  const lineOverride = values.line === undefined ? undefined : parseLineSpec(values.line);
  if (values.line !== undefined && !lineOverride)
    throw new UsageError('--line: BAUD:FORMAT, e.g. 115200:7E1 or 9600:8N1', HELP);
  const initialWh = Number(values['initial-kwh']) * 1000;
  if (!(initialWh >= 0)) throw new UsageError('--initial-kwh: a non-negative number', HELP);

  if (values.capture)
    return replayCapture(protocol, values.capture, { ...values, stepS, version, lineOverride });

  const household = await loadHousehold({
    ...(values.csv ? { csv: values.csv } : {}),
    ...(values.household ? { household: values.household } : {}),
    timeZone: values.timezone,
    initialWh,
  });
  const start = values.start ? Date.parse(values.start) : household.register.span.from;
  if (!Number.isFinite(start)) throw new UsageError('--start: an ISO 8601 time', HELP);
  const until = values.until
    ? Date.parse(values.until)
    : values.days
      ? start + Number(values.days) * 86_400_000
      : household.register.span.to;
  if (!Number.isFinite(until) || until <= start) throw new UsageError('--until/--days: after --start', HELP);
  // One serial per household: the gateway binds the serial a meter reports to one meter id (issue #14).
  const serial = values.serial ?? `EMU${household.id}`;
  const input = (t: number): FrameInput => ({
    t,
    registerWh: household.register.valueAt(t),
    powerW: powerAt(household, t, stepS * 1000),
    timeZone: values.timezone,
    serial,
  });

  // Emulated now, for the meters that answer requests (IEC mode C, Modbus) rather than push on steps.
  const realStart = values.anchor ? Date.parse(values.anchor) : Date.now();
  if (!Number.isFinite(realStart)) throw new UsageError('--anchor: an ISO 8601 time', HELP);
  const clock = () => Math.min(until, start + (Date.now() - realStart) * speed);
  let send: (t: number, seq: number) => Promise<void>;
  let close: () => Promise<void>;
  if (protocol === 'mqtt') {
    const format = values.format;
    // Its key first: a key others may read is refused before anything goes out.
    const sealed =
      format === 'sealed' ? new SealedMeter(values['gateway-config']!, values['meter-key']!) : undefined;
    const client = await mqtt.connectAsync(values.broker, { clientId: `emulated-${process.pid}` });
    send = async (t) => {
      const x = input(t);
      let payload: string;
      if (sealed) {
        // One reading per interval, at its end, for intervals the recording has.
        if (t % sealed.intervalMs !== 0 || !household.register.hasDataAt(t - 1)) return;
        const start = t - sealed.intervalMs;
        payload = sealed.payload(start, Math.round(x.registerWh - household.register.valueAt(start)));
      } else {
        payload =
          format === 'tasmota'
            ? tasmotaPayload(t, x.registerWh, x.powerW, x.timeZone)
            : genericPayload(t, x.registerWh);
      }
      await client.publishAsync(values.topic, payload);
    };
    close = () => client.endAsync();
    console.log(`publishing ${format} JSON to ${values.broker} topic ${values.topic}`);
  } else if (protocol === 'modbus-tcp' || protocol === 'modbus-rtu') {
    // RTU: the server opens the meter end of a pty pair (or a real device) itself.
    const pair =
      protocol === 'modbus-rtu' && !values.device
        ? await openPtyPair(...ptyEnds(values.pty ?? path.join(ROOT, 'var', 'emulate', protocol)))
        : undefined;
    if (pair) console.log(`serial: the gateway opens ${pair.gatewayEnd}`);
    const server = await serveModbus({
      endpoint:
        protocol === 'modbus-tcp'
          ? { kind: 'tcp', host: '127.0.0.1', port: Number(values.port) }
          : { kind: 'rtu', path: pair?.meterEnd ?? values.device!, baudRate: 9600 },
      unitId: Number(values.unit),
      model: values.model,
      registerWh: () => household.register.valueAt(clock()),
      powerW: () => powerAt(household, clock(), stepS * 1000),
      household: household.id,
      serial: values.serial,
    });
    console.log(
      protocol === 'modbus-tcp'
        ? `Modbus TCP meter (${values.model}, unit ${values.unit}) on 127.0.0.1:${values.port}`
        : `Modbus RTU meter (${values.model}, unit ${values.unit})`,
    );
    send = () => Promise.resolve();
    close = async () => (await server.stop(), await pair?.close());
  } else {
    const line: LineSettings =
      lineOverride ??
      (protocol === 'dsmr'
        ? lineSettingsFor(version)
        : protocol === 'iec62056-21'
          ? iecLineSettings(values['iec-mode'] === 'C' ? SIGN_ON_BAUD : MODE_D_BAUD)
          : { baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 });
    const out = await serialOutput(protocol, values, line);
    if (protocol === 'iec62056-21' && values['iec-mode'] === 'C') {
      serveModeC({
        out,
        now: clock,
        registerWh: (t) => household.register.valueAt(t),
        timeZone: values.timezone,
        serial,
      });
      console.log('IEC 62056-21 mode C: answering readouts (sign-on at 300 baud, up to 9600)');
      send = () => Promise.resolve();
    } else {
      send = (t, seq) => {
        const x = input(t);
        const frame =
          protocol === 'dsmr'
            ? smartyKey
              ? encryptSmartyFrame(dsmrFrame(version, x), {
                  key: Buffer.from(smartyKey, 'hex'),
                  systemTitle: Buffer.from('EMU00001', 'latin1'),
                  frameCounter: seq,
                })
              : dsmrFrame(version, x)
            : protocol === 'sml'
              ? smlFrame(x, seq, values['sml-absolute-time'])
              : iecModeDFrame(x);
        return out.write(frame);
      };
    }
    close = () => out.close();
  }
  console.log(
    `household ${household.id}: ${new Date(start).toISOString()} → ${new Date(until).toISOString()}, speed ${speed}, a frame every ${stepS} s`,
  );
  let seq = 0;
  await runLoop({ start, speed, stepMs: stepS * 1000, until, realStart }, async (t) => {
    // A meter is silent in an interval its household has no recording for: missing stays missing.
    if (household.register.hasDataAt(t)) await send(t, seq++);
  });
  await close();
}

/** The meter and gateway ends of a pty pair in `dir`. */
function ptyEnds(dir: string): [string, string] {
  mkdirSync(dir, { recursive: true });
  return [path.join(dir, 'meter'), path.join(dir, 'gateway')];
}

function powerAt(h: Household, t: number, stepMs: number): number {
  return Math.max(0, ((h.register.valueAt(t) - h.register.valueAt(t - stepMs)) * 3_600_000) / stepMs);
}

async function serialOutput(
  protocol: Protocol,
  values: { pty?: string | undefined; device?: string | undefined },
  line: LineSettings,
): Promise<SerialOutput> {
  const target = values.device
    ? { device: values.device }
    : { ptyDir: values.pty ?? path.join(ROOT, 'var', 'emulate', protocol) };
  const out = await openSerialOutput(target, line);
  console.log(
    out.gatewayPath ? `serial: the gateway opens ${out.gatewayPath}` : `serial: writing to ${values.device}`,
  );
  return out;
}

/** Runs the loop until its end or SIGINT/SIGTERM. */
function runLoop(
  opts: ConstructorParameters<typeof TimeLoop>[0],
  emit: (t: number) => Promise<void>,
): Promise<void> {
  return new Promise((resolve) => {
    const loop = new TimeLoop(opts, emit, resolve);
    const stop = () => (loop.stop(), resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    loop.start();
  });
}

async function replayCapture(
  protocol: Protocol,
  file: string,
  o: {
    stepS: number;
    version: DsmrVersion;
    lineOverride: LineSettings | undefined;
    pty?: string | undefined;
    device?: string | undefined;
    speed?: string;
  },
): Promise<void> {
  if (protocol !== 'dsmr' && protocol !== 'sml' && protocol !== 'iec62056-21')
    throw new UsageError('--capture: for dsmr, sml and iec62056-21', HELP);
  const chunks = captureChunks(protocol, readFileSync(file));
  // An IEC 62056-21 capture is replayed as mode D pushes (2400 baud 7E1): a mode C dialogue needs a reader.
  const line: LineSettings =
    o.lineOverride ??
    (protocol === 'dsmr'
      ? lineSettingsFor(o.version)
      : protocol === 'iec62056-21'
        ? iecLineSettings(MODE_D_BAUD)
        : { baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 });
  const out = await serialOutput(protocol, o, line);
  console.log(
    `replaying ${chunks.length} frames of ${file}, one every ${o.stepS} s (speed ${o.speed ?? 1}), looping`,
  );
  let i = 0;
  await runLoop({ start: Date.now(), speed: Number(o.speed ?? 1), stepMs: o.stepS * 1000 }, async () => {
    await out.write(chunks[i++ % chunks.length]!);
  });
  await out.close();
}

runCli(main);
