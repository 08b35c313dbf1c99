/**
 * The gateway's periodic health, contract version 1 (docs/protocol.md §8a): a signed envelope (§3) by the gateway's
 * Ed25519 key on `<prefix>/gw/<gatewayId>/health`, QoS 0, not retained. Counts, instants and error codes only:
 * never a reading's value, never a household's pseudonym, account or neighbourhood beside a meter.
 */
import { z } from 'zod';

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
const Iso = z.iso.datetime();
const Count = z.number().int().min(0);
/** Error code → how many times (e.g. `{"READING_DUPLICATE": 2}`); a code appears once it is non-zero. */
const ByCode = z.record(z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/), Count);

export const MeterState = z.enum(['up', 'stale', 'down']);
export type MeterState = z.infer<typeof MeterState>;

export const MeterHealth = z
  .object({
    /** The meter's local id (`meters[].id`). */
    id: Id,
    /** `meters[].source.driver`: replay, serial, mqtt or modbus. */
    driver: Id,
    state: MeterState,
    /** End of the newest interval accepted from this meter (data clock); null before the first. */
    lastIntervalEnd: Iso.nullable(),
    /** Readings accepted from this meter since the gateway started. */
    accepted: Count,
    /** Its readings and frames refused since the gateway started, by code. */
    rejected: ByCode,
  })
  .strict();
export type MeterHealth = z.infer<typeof MeterHealth>;

export const HealthBody = z
  .object({
    v: z.literal(1),
    type: z.literal('health'),
    gateway: Id,
    /** Gateway wall clock when the message was made. */
    at: Iso,
    /** The data clock at that moment (differs from `at` only when replaying recorded data). */
    dataTime: Iso,
    /**
     * The data clock (docs/deploy.md, "Time"): `unset` while the system clock reads before any plausible time
     * (a Pi without a real-time clock before NTP), `behind` while it reads before the latest time the gateway
     * acted on (stepped back); meanwhile the data clock stands still. Optional: added within v1.
     */
    clock: z
      .object({ state: z.enum(['ok', 'unset', 'behind']), behindSeconds: Count })
      .strict()
      .optional(),
    uptimeSeconds: Count,
    /** Seconds between two health messages (`observe.healthSeconds`). */
    periodSeconds: Count,
    meters: z.object({ configured: Count, seen: Count, up: Count, stale: Count, down: Count }).strict(),
    readings: z
      .object({
        /** Since the gateway started. */
        accepted: Count,
        /** The newest interval whose aggregation grace has passed, and the readings accepted for it. */
        lastInterval: z.object({ start: Iso, end: Iso, accepted: Count }).strict(),
        rejected: ByCode,
      })
      .strict(),
    frames: z.object({ rejected: ByCode }).strict(),
    /** Neighbourhood groups decided since the gateway started. */
    groups: z.object({ released: Count, suppressed: Count }).strict(),
    buffer: z
      .object({
        /** Ciphertexts awaiting their group's release and acknowledgement. */
        pendingReadings: Count,
        /** Ciphertexts of readings from ahead of the gateway's clock. */
        heldReadings: Count,
        outboxRecords: Count,
        unbatchedRecords: Count,
        /** Signed batches not yet acknowledged by the MDMS. */
        batches: Count,
        oldestUnackedBatchAgeSeconds: Count.nullable(),
        /**
         * A limit is reached now: `pendingReadings` >= `buffer.maxPendingReadings` or `outboxRecords` >=
         * `buffer.maxOutboxRecords` (docs/buffer.md, "Limits and the policy when full"). Optional: added within v1.
         */
        full: z.boolean().optional(),
        /** Readings billed but not kept for aggregation because the buffer was full, since the start. */
        notAggregated: Count.optional(),
        /** Unbatched records dropped by the limits since the start, by kind (bills are never dropped). */
        dropped: z.object({ aggregate: Count, suppressed: Count }).strict().optional(),
      })
      .strict(),
    /** The file system of `gateway.dataDir`; null when it cannot be read. */
    disk: z.object({ totalBytes: Count, availableBytes: Count }).strict().nullable(),
    /**
     * Whether the buffer takes writes (docs/buffer.md, "When writes fail"): false from a write refused by the
     * storage (disk full, read-only) until one succeeds. Optional: added within v1.
     */
    storage: z
      .object({
        writable: z.boolean(),
        /** SQLite's code of the last refused write since the start (SQLITE_FULL, SQLITE_READONLY, ...). */
        lastErrorCode: z
          .string()
          .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
          .nullable(),
        /** When the current episode began; null while writable. */
        failingSince: Iso.nullable(),
        /** Ciphertexts waiting in memory to be written. */
        unstoredReadings: Count,
        /** True once a statement found the buffer corrupt (issue #20): nothing is deleted from it meanwhile. */
        corrupt: z.boolean().optional(),
        /**
         * The last start that accepted a buffer behind its marker (`--accept-data-loss`, docs/reliability.md):
         * when, and what its marker said was missing; null if never.
         */
        dataLossAccepted: z
          .object({ at: Iso, missing: z.string().max(2000) })
          .strict()
          .nullable()
          .optional(),
      })
      .strict()
      .optional(),
    /**
     * What stops batches from arriving although the link is up (issue #20; docs/reliability.md): quarantined and
     * rebuilt batches, the MDMS's signed refusals, publishes the broker refused (MQTT 5 reason codes), and the
     * MDMS's recent ack latency. Optional: added within v1.
     */
    delivery: z
      .object({
        /** Batches set aside for good, in the buffer now: data the MDMS will not get until an operator acts. */
        quarantinedBatches: Count,
        /** Batches quarantined since the start, by code. */
        quarantined: ByCode,
        /** Batches rebuilt from their intact records since the start. */
        rebuiltBatches: Count,
        /** The MDMS's refusals (nacks) since the start, by code. */
        nacked: ByCode,
        /** Batch publishes the broker refused since the start (MQTT 5 PUBACK reason code ≥ 0x80). */
        brokerRefused: Count,
        lastBrokerRefusal: z
          .object({ reasonCode: z.number().int().min(128).max(255), reason: z.string().max(100), at: Iso })
          .strict()
          .nullable(),
        /** The median of the MDMS's recent acknowledgement latencies; null before the first ack. */
        ackLatencySeconds: z.number().min(0).nullable(),
      })
      .strict()
      .optional(),
    memory: z.object({ rssBytes: Count, heapUsedBytes: Count, heapTotalBytes: Count }).strict(),
    /**
     * The meters re-homed on site in the last 30 days, newest first (docs/fleet.md "Membership is bound to
     * devices"): each released its device bindings and retired its id. Optional: added within v1 (issue #14).
     */
    rehomes: z
      .array(z.object({ meter: Id, at: Iso, reason: z.string().max(500) }).strict())
      .max(100)
      .optional(),
    meterStatus: z.array(MeterHealth),
  })
  .strict();
export type HealthBody = z.infer<typeof HealthBody>;
