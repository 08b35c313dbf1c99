/**
 * The one configuration schema (STYLE.md §5): defaults and a description for every field. Local YAML and, later,
 * remote configuration go through the same validator (`load.ts`). The commented example is
 * `config/gateway.example.yaml`; docs/configuration.md explains each section.
 */
import cron from 'node-cron';
import { z } from 'zod';
import { LOG_COMPONENTS, LOG_LEVELS } from '../observe/log-levels.ts';
import { isValidTimeZone } from '../time/zoned.ts';
import {
  ModbusDriver,
  ModbusSource,
  MqttDriver,
  MqttSource,
  SerialDrivers,
  SerialSource,
} from './drivers-schema.ts';

/** Ids of meters, neighbourhoods, accounts and gateways: safe in topics, file names and SQL. */
const Id = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
    'must be 1-64 letters, digits, "_", "." or "-", starting alphanumeric',
  );

const TimeZone = z
  .string()
  .refine(isValidTimeZone, 'is not an IANA time zone (e.g. "UTC", "Europe/Amsterdam")');

/** `HH:MM-HH:MM`, end exclusive, `24:00` allowed as an end; a window may wrap past midnight. */
const TimeWindow = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'must look like "07:00-23:00"');

/** `observe.metrics.listen`: `port`, `host:port` or `[ipv6]:port`; a bare port is on 127.0.0.1. */
export const LISTEN_PATTERN = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/;

export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9464';

const LogLevel = z.enum(LOG_LEVELS);

/** The smallest k any configuration may set: below it an aggregate is nearly a single household's reading. */
export const K_ABSOLUTE_FLOOR = 2;

const ReplaySource = z
  .object({
    driver: z.literal('replay').describe('Emulated meter replaying a household of the consumption CSV'),
    household: z.string().min(1).describe('The `customer_id` in the CSV whose readings this meter replays'),
  })
  .strict();

/** A meter source per driver. */
const MeterSource = z.discriminatedUnion('driver', [ReplaySource, SerialSource, MqttSource, ModbusSource]);

const Meter = z
  .object({
    id: Id.describe(
      "Local meter id: in logs, the local buffer and the operator's health message, never in records for the MDMS",
    ),
    neighbourhood: Id.describe('The one neighbourhood this meter is aggregated in'),
    account: Id.describe('Billing account the meter is billed to (named upstream on bills)'),
    source: MeterSource.describe('Where readings come from'),
  })
  .strict();

const Neighbourhood = z
  .object({
    id: Id.describe('Neighbourhood id, named upstream on aggregates'),
    description: z.string().optional().describe('Free text for operators'),
  })
  .strict();

/**
 * The smallest `billing.minBandMinutes` any configuration may set: a band of one interval would make every bill
 * report that interval of the account's day (issue #14).
 */
export const MIN_BAND_MINUTES_FLOOR = 60;

/**
 * Inbound packet limits (issue #14 C, docs/protocol.md): the largest legitimate inbound messages are operator
 * commands carrying a whole configuration (measured: 7.9 kB for config/gateway.example.yaml, about 240 bytes a
 * serial meter with its by-id port signed and enveloped, so 2 MiB holds ~8 700 meters); acks and households'
 * requests are a few kB.
 */
export const DEFAULT_MAX_PACKET_BYTES = 2 * 1024 * 1024;
export const MIN_PACKET_BYTES = 64 * 1024;

/** Prices become integers of 10⁻⁶ currency units per kWh (gateway/aggregate/bill-cost.ts): six decimals at most. */
export const PRICE_DECIMALS = 6;

const Price = z
  .number()
  .min(0)
  .max(1000)
  .refine(
    (p) => Math.round(p * 10 ** PRICE_DECIMALS) / 10 ** PRICE_DECIMALS === p,
    `must have at most ${PRICE_DECIMALS} decimals`,
  );

const TariffBand = z
  .object({
    name: Id.describe('Band name, e.g. "peak"; names the band slot upstream'),
    windows: z
      .array(TimeWindow)
      .min(1)
      .describe('Local time-of-day windows of the band; together the bands cover each minute exactly once'),
    price: Price.optional().describe(
      'Price per kWh in currency units, at most 6 decimals; required with billing.reveal cost-only. The prices ' +
        'in force when a bill is closed apply to its whole period',
    ),
  })
  .strict();

const Tls = z
  .object({
    ca: z.string().optional().describe('PEM file of the CA that signed the broker certificate'),
    cert: z.string().optional().describe('PEM client certificate (mutual TLS)'),
    key: z.string().optional().describe('PEM client private key (mutual TLS); must be mode 0600'),
    rejectUnauthorized: z.boolean().default(true).describe('Verify the broker certificate (keep true)'),
  })
  .strict();

/**
 * Differential privacy of neighbourhood releases (docs/privacy.md §Noise). The defaults are measured on the SGSC
 * data: clipWh is the 99th percentile of its half-hourly readings (2 013 Wh) halved for the default 15-minute
 * interval, and ε = 100 per day gives a 100-household half-hourly sum a 95 % interval of about ±12 %.
 */
const Noise = z
  .object({
    epsilonPerDay: z
      .number()
      .positive()
      .max(1000)
      .default(100)
      .describe(
        "ε of a household's daily (ε, δ) budget, spent over the day's releases (discrete Gaussian noise, zCDP " +
          'accounting); smaller is more private and noisier. A command may set it, never above epsilonCeiling',
      ),
    deltaPerDay: z
      .number()
      .gt(0)
      .max(1e-3)
      .default(1e-6)
      .describe("δ of a household's daily (ε, δ) budget; a command may set it, never above deltaCeiling"),
    epsilonCeiling: z
      .number()
      .positive()
      .max(1000)
      .default(100)
      .describe(
        'Local ceiling for epsilonPerDay; set only in this file, remote configuration can never exceed it',
      ),
    deltaCeiling: z
      .number()
      .gt(0)
      .max(1e-3)
      .default(1e-6)
      .describe(
        'Local ceiling for deltaPerDay; set only in this file, remote configuration can never exceed it',
      ),
    clipWh: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .default(1000)
      .describe(
        'A reading counts at most this many Wh in a neighbourhood release (its differential-privacy sensitivity); ' +
          "bills and the customer stream stay exact. Pick a high percentile of one interval's readings; local only",
      ),
  })
  .strict()
  .prefault({})
  .describe('Differential-privacy noise added to every neighbourhood release (docs/privacy.md §Noise)');

export const ConfigSchema = z
  .object({
    gateway: z
      .object({
        id: Id.describe('Gateway id; part of every upstream topic'),
        dataDir: z.string().default('./var').describe('Directory for the SQLite buffer and state'),
        timezone: TimeZone.default('UTC').describe('Zone of tariff windows and billing period boundaries'),
        logLevel: LogLevel.default('info').describe('pino log level of every component without its own'),
        logLevels: z
          .partialRecord(z.enum(LOG_COMPONENTS), LogLevel)
          .default({})
          .describe(
            'Levels of single components, e.g. { driver: debug, uplink: warn }; like logLevel, applied without a ' +
              `restart when set remotely. Components: ${LOG_COMPONENTS.join(', ')}`,
          ),
        logFile: z.string().optional().describe('Write logs to this file instead of stdout'),
      })
      .strict()
      .describe('This gateway'),
    clock: z
      .discriminatedUnion('mode', [
        z.object({ mode: z.literal('system') }).strict(),
        z
          .object({
            mode: z.literal('virtual'),
            start: z.iso.datetime({ offset: true }).describe('Instant the virtual clock starts at'),
            speed: z.number().min(1).max(1_000_000).default(1).describe('Virtual seconds per real second'),
            anchor: z.iso
              .datetime({ offset: true })
              .optional()
              .describe(
                'Real instant at which the virtual clock reads `start` (default: when the gateway starts); give ' +
                  'scripts/emulate the same --anchor so that emulated meters share the timeline',
              ),
          })
          .strict(),
      ])
      .default({ mode: 'system' })
      .describe('Data clock: the system clock, or a virtual one for replaying recorded data'),
    privacy: z
      .object({
        kFloor: z
          .number()
          .int()
          .min(K_ABSOLUTE_FLOOR)
          .default(5)
          .describe('Local floor for k; set only in this file, remote configuration can never go below it'),
        k: z
          .number()
          .int()
          .min(K_ABSOLUTE_FLOOR)
          .default(5)
          .describe('Minimum distinct meters in a released neighbourhood aggregate'),
        noise: Noise,
      })
      .strict()
      .prefault({})
      .describe(
        'k-anonymity and differential-privacy noise of neighbourhood aggregates (privacy invariant 2)',
      ),
    customers: z
      .object({
        historyDays: z
          .number()
          .min(1)
          .max(3660)
          .default(30)
          .describe("Days a household's sealed readings are kept on the gateway for its history requests"),
      })
      .strict()
      .prefault({})
      .describe("Households' own data (docs/customers.md)"),
    intervals: z
      .object({
        minutes: z
          .number()
          .int()
          .refine((m) => m > 0 && 1440 % m === 0, 'must divide a day (e.g. 5, 15, 30, 60)')
          .default(15)
          .describe('Aggregation interval length in minutes; must divide 1440'),
        graceMinutes: z
          .number()
          .int()
          .min(0)
          .max(1440)
          .default(5)
          .describe('Wait after an interval closes before aggregating it; later readings go to billing only'),
      })
      .strict()
      .prefault({})
      .describe('Aggregation intervals'),
    billing: z
      .object({
        period: z.enum(['daily', 'weekly', 'monthly']).default('monthly').describe('Billing period length'),
        graceMinutes: z
          .number()
          .int()
          .min(0)
          .default(60)
          .describe('Wait after a period ends before releasing'),
        bands: z
          .array(TariffBand)
          .min(1)
          .max(8)
          .default([{ name: 'all', windows: ['00:00-24:00'] }])
          .describe(
            'Time-of-day tariff bands; each covers at least billing.minBandMinutes of the day in total, so at ' +
              'most 1440 / minBandMinutes bands',
          ),
        minBandMinutes: z
          .number()
          .int()
          .min(MIN_BAND_MINUTES_FLOOR)
          .max(1440)
          .default(180)
          .describe(
            'Privacy floor of a tariff band: the fewest minutes of the day a band may cover in total, so that no ' +
              `band's total on a bill isolates a short window of the day (docs/privacy.md). At least ${MIN_BAND_MINUTES_FLOOR}; ` +
              'set only in this file, never remotely',
          ),
        reveal: z
          .enum(['bands', 'cost-only'])
          .default('bands')
          .describe(
            'What a bill reveals to the supplier: bands, the Wh totals per band; cost-only, only the amount due, ' +
              'computed homomorphically from the band prices. A change applies from the next period opened',
          ),
      })
      .strict()
      .superRefine((billing, ctx) => {
        if (billing.reveal !== 'cost-only') return;
        billing.bands.forEach((band, i) => {
          if (band.price === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: ['bands', i, 'price'],
              message: `is required with billing.reveal cost-only (band "${band.name}" has no price)`,
            });
          }
        });
      })
      .prefault({})
      .describe('Billing periods and time-of-day tariff bands'),
    encryption: z
      .object({
        engine: z
          .enum(['djn', 'native', 'paillier-bigint'])
          .default('djn')
          .describe(
            'djn: short-exponent randomizers from a fixed-base table (fast; DJN assumption, docs/performance.md); ' +
              'native: full-length r^n by OpenSSL; paillier-bigint: the reference library (slow baseline)',
          ),
        exponentBits: z
          .number()
          .int()
          .min(224)
          .max(4096)
          .optional()
          .describe(
            "djn: random exponent length; default and minimum twice the supplier key's security level λ (NIST " +
              'SP 800-57, interpolated between its rows: 224 at 2048 bits, 256 at 3072); a shorter one is ' +
              'refused at --check (when the key is readable), start and doctor',
          ),
        windowBits: z
          .number()
          .int()
          .min(1)
          .max(12)
          .default(8)
          .describe(
            'djn: fixed-base table window; memory ⌈exponentBits/w⌉·2^w·|n²|, e.g. 6.3 MB at 3072 bits, w = 8',
          ),
        poolSize: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(1024)
          .describe('Randomizers precomputed by a worker thread, in memory only; 0 computes them at intake'),
        maxWhPerReading: z
          .number()
          .int()
          .min(1)
          .max(1_000_000_000)
          .default(20_000)
          .describe('Upper bound of one interval reading in Wh; larger readings are rejected'),
        maxMetersPerNeighbourhood: z
          .number()
          .int()
          .min(1)
          .default(10_000)
          .describe('Bound used to size slots so no neighbourhood sum can overflow'),
      })
      .strict()
      .prefault({})
      .describe('Paillier encryption at capture and the bounds that size the packed slots'),
    keys: z
      .object({
        supplierPublic: z.string().describe('Supplier Paillier public key (JSON, see docs/protocol.md)'),
        gatewayPrivate: z.string().describe('Gateway Ed25519 private key (PKCS#8 PEM, mode 0600)'),
        mdmsPublic: z.string().describe('MDMS Ed25519 public key (SPKI PEM) that signs acknowledgements'),
        operatorPublic: z
          .string()
          .optional()
          .describe(
            'Operator Ed25519 public key (SPKI PEM) whose signed commands may change this file remotely; without it, remote configuration is off',
          ),
        enrolmentCodes: z
          .string()
          .optional()
          .describe(
            "Salted hashes of the meters' one-time enrolment codes (scripts/keygen enrolment-code); without it " +
              'households cannot enrol (docs/customers.md)',
          ),
      })
      .strict()
      .describe('Key files made by scripts/keygen'),
    upstream: z
      .object({
        url: z
          .string()
          .regex(/^(mqtts?|wss?):\/\/[^\s]+$/, 'must be an mqtt://, mqtts://, ws:// or wss:// URL')
          .describe('Upstream MQTT broker'),
        username: z.string().optional().describe('Broker user name'),
        password: z.string().optional().describe('Prefer passwordFile in production'),
        passwordFile: z.string().optional().describe('File holding the broker password'),
        clientId: z.string().optional().describe('Defaults to "gw-<gateway.id>"'),
        topicPrefix: z.string().default('meterspace/v1').describe('Prefix of every topic'),
        tls: Tls.optional().describe(
          'TLS settings for mqtts:// and wss:// (server verification, client certificate)',
        ),
        schedule: z
          .string()
          .refine((s) => cron.validate(s), 'is not a valid cron expression')
          .default('*/15 * * * *')
          .describe('When released records are batched and published (node-cron, seconds field allowed)'),
        maxRecordsPerBatch: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(500)
          .describe('Records per signed batch'),
        retryInitialSeconds: z
          .number()
          .min(0.1)
          .default(5)
          .describe('First re-send delay of an unacked batch'),
        retryMaxSeconds: z.number().min(1).default(600).describe('Longest re-send delay'),
        protocolVersion: z
          .union([z.literal(5), z.literal(4)])
          .default(5)
          .describe(
            'MQTT protocol: 5 announces maxPacketBytes to the broker, which then never sends more; 4 (MQTT 3.1.1) ' +
              "for old brokers, where only the gateway's own cut-off holds (docs/protocol.md)",
          ),
        maxPacketBytes: z
          .number()
          .int()
          .min(MIN_PACKET_BYTES)
          .max(268_435_455)
          .default(DEFAULT_MAX_PACKET_BYTES)
          .describe(
            'Largest inbound MQTT packet accepted, in bytes: announced as MQTT 5 maximumPacketSize, and a packet ' +
              'announced larger ends the connection before it is read (counted as uplink.inbound_too_large). ' +
              'The default holds an operator command with a whole configuration of thousands of meters',
          ),
      })
      .strict()
      .describe('The upstream MQTT broker, schedule and re-sends'),
    buffer: z
      .object({
        file: z.string().default('buffer.sqlite').describe('SQLite file, relative to gateway.dataDir'),
        synchronous: z
          .enum(['NORMAL', 'FULL'])
          .default('NORMAL')
          .describe('NORMAL: WAL survives power loss up to the last checkpoint, far fewer SD-card writes'),
        walCheckpointPages: z
          .number()
          .int()
          .min(100)
          .max(100_000)
          .default(4000)
          .describe(
            'WAL pages (4 KiB) between checkpoints: more means fewer SD-card writes, a larger WAL and more lost at a power cut (docs/buffer.md)',
          ),
        maxPendingReadings: z
          .number()
          .int()
          .min(100)
          .default(500_000)
          .describe('Readings awaiting aggregation; past it new readings are billed but not aggregated'),
        maxUnstoredReadings: z
          .number()
          .int()
          .min(0)
          .default(2000)
          .describe(
            'Ciphertexts kept in memory while the disk refuses writes (full, read-only), written when it takes them again; past it the oldest are dropped (docs/buffer.md)',
          ),
        maxOutboxRecords: z
          .number()
          .int()
          .min(100)
          .default(200_000)
          .describe('Unacknowledged records; past it the oldest aggregates are dropped, bills never'),
        maxReadingAgeDays: z
          .number()
          .min(1)
          .max(3660)
          .default(35)
          .describe('Readings older than this are rejected; unacked aggregates older than this are dropped'),
      })
      .strict()
      .prefault({})
      .describe('The SQLite buffer and its limits (policy when full: docs/buffer.md)'),
    observe: z
      .object({
        healthSeconds: z
          .number()
          .int()
          .min(0)
          .max(86_400)
          .default(60)
          .describe('Seconds between two signed health messages upstream (docs/protocol.md §8a); 0: none'),
        staleIntervals: z
          .number()
          .int()
          .min(1)
          .max(10_000)
          .default(3)
          .describe('A meter with no reading accepted for more than this many intervals is reported stale'),
        metrics: z
          .union([
            z.boolean(),
            z
              .object({
                listen: z
                  .string()
                  .regex(LISTEN_PATTERN, 'must be port, host:port or [ipv6]:port')
                  .refine((l) => Number(LISTEN_PATTERN.exec(l)?.[2]) <= 65_535, 'port must be at most 65535')
                  .default(DEFAULT_METRICS_LISTEN)
                  .describe(
                    'Address of the Prometheus endpoint; a bare port is on 127.0.0.1. Anything but loopback ' +
                      'shows meter ids and counts to the network: firewall it',
                  ),
              })
              .strict(),
          ])
          .default(false)
          .describe(
            `Local Prometheus endpoint GET /metrics (docs/operations.md): true is { listen: ${DEFAULT_METRICS_LISTEN} }; ` +
              'false or absent: off',
          ),
      })
      .strict()
      .prefault({})
      .describe('Health messages, meter staleness and the Prometheus endpoint (docs/operations.md)'),
    drivers: z
      .object({
        replay: z
          .object({
            file: z.string().describe('Consumption CSV (optionally .gz) in the documented shape'),
            timezone: TimeZone.optional().describe(
              'Zone of the CSV wall-clock times; default gateway.timezone',
            ),
            pollMs: z.number().int().min(10).default(250).describe('How often due rows are emitted'),
          })
          .strict()
          .optional()
          .describe('Emulated meters replaying a consumption CSV (docs/drivers/replay.md)'),
        serial: SerialDrivers,
        mqtt: MqttDriver,
        modbus: ModbusDriver,
      })
      .strict()
      .prefault({})
      .describe('Settings shared by all meters of a driver'),
    neighbourhoods: z
      .array(Neighbourhood)
      .min(1)
      .describe('Neighbourhoods; aggregates are released per neighbourhood'),
    meters: z
      .array(Meter)
      .min(1)
      .describe('Meters; each in exactly one neighbourhood, billed to one account'),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type MeterConfig = Config['meters'][number];
export type TariffBandConfig = Config['billing']['bands'][number];
