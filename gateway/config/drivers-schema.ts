/**
 * The configuration of the real-meter drivers (serial ports; Modbus and MQTT follow the same pattern): the
 * shared settings of a port, bus or broker under `drivers`, and the per-meter `source` that points at it.
 * Part of the one schema (schema.ts); split out to keep each file about one thing.
 */
import { z } from 'zod';
import { DSMR_VERSIONS } from '../../drivers/dsmr/dsmr-version.ts';
import { isValidTimeZone } from '../time/zoned.ts';

export const PortName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, 'must be 1-32 letters, digits, "_" or "-"');

const Line = z
  .object({
    baudRate: z
      .number()
      .int()
      .refine(
        (b) => [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200].includes(b),
        'is not a standard baud rate',
      )
      .optional()
      .describe('Baud rate; default from the protocol (DSMR version, IEC mode)'),
    dataBits: z
      .union([z.literal(7), z.literal(8)])
      .optional()
      .describe('Data bits; default from the protocol'),
    parity: z.enum(['none', 'even', 'odd']).optional().describe('Parity; default from the protocol'),
    stopBits: z
      .union([z.literal(1), z.literal(2)])
      .optional()
      .describe('Stop bits; default 1'),
  })
  .strict();

const MaxSampleGap = z
  .number()
  .min(1)
  .default(900)
  .describe('Register samples further apart than this leave the intervals between them without a reading');

const MeterClock = {
  timezone: z
    .string()
    .refine(isValidTimeZone, 'is not an IANA time zone (e.g. "Europe/Amsterdam")')
    .optional()
    .describe("Zone of the meter's local timestamps (DSMR, IEC 62056-21); default gateway.timezone"),
  trustMeterClock: z
    .boolean()
    .default(true)
    .describe("Place readings by the meter's own timestamp where the protocol has one (a Pi has no RTC)"),
  maxClockSkewSeconds: z
    .number()
    .min(1)
    .default(120)
    .describe('Meter and gateway clocks further apart than this are reported (metric driver.clock_skew)'),
};

export const SerialPortSchema = z
  .object({
    path: z
      .string()
      .min(1)
      .describe('Device path; prefer the stable /dev/serial/by-id/... name to /dev/ttyUSB0'),
    protocol: z.enum(['dsmr', 'sml', 'iec62056-21']).describe('What the meter on this port speaks'),
    dsmrVersion: z
      .enum([...DSMR_VERSIONS, 'auto'])
      .default('5.0')
      .describe(
        'DSMR: selects the line settings (2.2 and 3.0: 9600 7E1; 4.x, 5.0 and 5.0.2-be: 115200 8N1); auto tries ' +
          '115200 8N1, 115200 7E1 and 9600 7E1 in turn and keeps the first that gives a good telegram',
      ),
    lineDetectSeconds: z
      .number()
      .min(1)
      .max(600)
      .default(25)
      .describe(
        'DSMR auto: how long each line setting is tried (two telegrams of a meter sending every 10 s)',
      ),
    iec: z
      .object({
        mode: z.enum(['C', 'D']).default('C').describe('C: the gateway polls a readout; D: the meter pushes'),
        address: z
          .string()
          .regex(
            /^[0-9A-Za-z ]{0,32}$/,
            'must be up to 32 digits, letters or spaces (IEC 62056-21 device address)',
          )
          .default('')
          .describe('Device address in the sign-on request ("" = any)'),
        pollSeconds: z
          .number()
          .min(1)
          .default(60)
          .describe('Mode C: seconds between readouts (a readout takes 1-2 s at 300 baud sign-on)'),
        maxBaudRate: z
          .number()
          .int()
          .default(9600)
          .describe('Mode C: highest baud rate accepted from the meter'),
      })
      .strict()
      .prefault({})
      .describe('IEC 62056-21 settings'),
    line: Line.prefault({}).describe('Line settings overriding the protocol default'),
    decryptionKeyFile: z
      .string()
      .optional()
      .describe(
        'DSMR: Luxembourg Smarty meters encrypt their telegrams; file (mode 0600) holding the 32-hex-digit key ' +
          'from the grid operator',
      ),
    authenticationKey: z
      .string()
      .regex(/^[0-9A-Fa-f]{32}$/, 'must be 32 hex digits')
      .default('00112233445566778899AABBCCDDEEFF')
      .describe('DSMR Smarty: the authentication key (the same for every meter)'),
    mbus: z
      .boolean()
      .default(false)
      .describe(
        'DSMR: keep M-Bus sub-meter (gas, water) values; off by default (collect only what is needed)',
      ),
    silenceSeconds: z
      .number()
      .min(1)
      .default(60)
      .describe('No byte for this long: the port is reported silent (log, metric serial.silent)'),
    reopenMaxSeconds: z
      .number()
      .min(1)
      .default(60)
      .describe('Longest wait between attempts to reopen a port that disappeared (back-off from 1 s)'),
    maxSampleGapSeconds: MaxSampleGap,
    ...MeterClock,
  })
  .strict();

export const SerialSource = z
  .object({
    driver: z.literal('serial').describe('A meter on a serial port (DSMR P1, SML, IEC 62056-21)'),
    port: PortName.describe('Name of the port under drivers.serial'),
    registers: z
      .array(z.string().regex(/^\d+-\d+:\d+\.\d+\.\d+$/, 'must be an OBIS code like "1-0:1.8.0"'))
      .min(1)
      .optional()
      .describe('Energy registers summed as the import; default 1-0:1.8.0, else the sum of 1-0:1.8.1..9'),
  })
  .strict();

export const SerialDrivers = z
  .record(PortName, SerialPortSchema)
  .optional()
  .describe('Serial ports by name (docs/drivers/serial.md)');

export const MqttSource = z
  .object({
    driver: z.literal('mqtt').describe('A meter publishing to the local meter broker (drivers.mqtt)'),
    topic: z
      .string()
      .min(1)
      .refine((t) => !/[+#]/.test(t), 'must be a topic name without wildcards')
      .describe('Topic the meter publishes on, e.g. "tele/meter-3/SENSOR"'),
    format: z
      .enum(['tasmota', 'generic', 'sealed'])
      .describe(
        'tasmota: Tasmota SENSOR JSON; generic: the gateway JSON; sealed: readings the meter encrypted and ' +
          'signed itself (docs/drivers/mqtt.md)',
      ),
    publicKey: z
      .string()
      .optional()
      .describe("sealed: the meter's Ed25519 public key (SPKI PEM, scripts/keygen meter)"),
    energyPath: z
      .string()
      .regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be a dot path like "ENERGY.Total"')
      .default('ENERGY.Total')
      .describe('tasmota: JSON path of the cumulative import energy'),
    unit: z.enum(['kWh', 'Wh']).default('kWh').describe('tasmota: unit of the value at energyPath'),
    registers: SerialSource.shape.registers,
  })
  .strict();

export const MqttDriver = z
  .object({
    url: z
      .string()
      .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'must be an mqtt://, mqtts://, ws:// or wss:// URL')
      .default('mqtt://127.0.0.1:1883')
      .describe('The local broker the meters publish to (not the upstream one)'),
    username: z.string().optional().describe('Broker user name'),
    passwordFile: z.string().optional().describe('File holding the broker password'),
    clientId: z.string().optional().describe('Defaults to "meters-<gateway.id>"'),
    maxSampleGapSeconds: MaxSampleGap,
    ...MeterClock,
  })
  .strict()
  .optional()
  .describe('The local MQTT broker of MQTT meters (docs/drivers/mqtt.md)');

const ModbusBus = z.discriminatedUnion('transport', [
  z
    .object({
      transport: z.literal('tcp').describe('Modbus TCP (a meter or an RS-485 gateway on the network)'),
      host: z.string().min(1).describe('Host name or IP address'),
      port: z.number().int().min(1).max(65535).default(502).describe('TCP port'),
    })
    .strict(),
  z
    .object({
      transport: z.literal('rtu').describe('Modbus RTU on an RS-485 serial adapter'),
      path: z.string().min(1).describe('Serial device; prefer /dev/serial/by-id/...'),
      baudRate: z.number().int().default(9600).describe('Baud rate of the bus (all meters on it alike)'),
      parity: z.enum(['none', 'even', 'odd']).default('none').describe('Parity of the bus'),
      dataBits: z
        .union([z.literal(7), z.literal(8)])
        .default(8)
        .describe('Data bits'),
      stopBits: z
        .union([z.literal(1), z.literal(2)])
        .default(1)
        .describe('Stop bits'),
    })
    .strict(),
]);

export const ModbusDriver = z
  .object({
    buses: z
      .record(PortName, ModbusBus)
      .describe('Modbus connections by name: RTU serial buses and TCP hosts'),
    pollSeconds: z.number().min(1).max(3600).default(10).describe('Seconds between two polls of a meter'),
    timeoutMs: z.number().int().min(50).max(30_000).default(1000).describe('Wait for each answer'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(5)
      .default(1)
      .describe('Further attempts before a meter is marked down'),
    backoffMaxSeconds: z
      .number()
      .min(1)
      .default(300)
      .describe('Longest wait before a meter that is down is polled again (back-off from pollSeconds)'),
    maxSampleGapSeconds: MaxSampleGap,
  })
  .strict()
  .optional()
  .describe('Modbus RTU buses and TCP hosts (docs/drivers/modbus.md)');

export const ModbusSource = z
  .object({
    driver: z.literal('modbus').describe('A meter polled over Modbus (drivers.modbus)'),
    bus: PortName.describe('Name of the bus under drivers.modbus.buses'),
    unit: z.number().int().min(1).max(247).describe('Modbus unit id (slave address) of the meter'),
    timeoutMs: z
      .number()
      .int()
      .min(50)
      .max(30_000)
      .optional()
      .describe("This meter's answer timeout; default drivers.modbus.timeoutMs"),
    retries: z
      .number()
      .int()
      .min(0)
      .max(5)
      .optional()
      .describe("This meter's retries; default drivers.modbus.retries"),
    model: z
      .string()
      .min(1)
      .describe(
        'Register map: a built-in model (eastron-sdm630, eastron-sdm120, carlo-gavazzi-em24) or the path of a ' +
          'YAML map file (docs/drivers/modbus.md)',
      ),
    registers: SerialSource.shape.registers,
  })
  .strict();
