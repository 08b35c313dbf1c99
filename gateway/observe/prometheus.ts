/**
 * The health (`health.ts`) and the counters (`metrics.ts`) in the Prometheus text exposition format, version
 * 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats): a HELP and a TYPE line per family, then its
 * samples; label values escaped (backslash, double quote, line feed). Counters end in `_total`. Counters that no
 * named family shows are exposed as `meterspace_events_total{counter="<name>"}`, so none is lost.
 * docs/operations.md lists every name.
 */
import type { HealthBody } from '../protocol/health-message.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: { labels?: Labels; value: number }[];
}

/** Counters shown by a named family below (the rest go to meterspace_events_total). */
const NAMED_COUNTERS = [
  /^readings\.accepted$/,
  /^readings\.rejected\./,
  /^driver\.(?:[a-z0-9-]+\.rejected|frames_rejected)\./,
  /^aggregates\.(?:released|suppressed)$/,
  /^readings\.full$/,
  /^buffer\.outbox_dropped\./,
  /^batches\.quarantined\./,
  /^nacks\.[A-Z]/,
  /^batches\.refused_by_broker\./,
];

const STATES = ['up', 'stale', 'down'] as const;
const CLOCK_STATES = ['ok', 'unset', 'behind'] as const;

export function renderPrometheus(h: HealthBody, counters: Record<string, number>): string {
  const gauge = (name: string, help: string, value: number, labels?: Labels): Family => ({
    name,
    help,
    type: 'gauge',
    samples: [{ value, ...(labels ? { labels } : {}) }],
  });
  /** A counter with one sample per key of `values`, labelled `label`. */
  const byLabel =
    (label: string) =>
    (name: string, help: string, values: Record<string, number>): Family => ({
      name,
      help,
      type: 'counter',
      samples: Object.entries(values).map(([key, value]) => ({ labels: { [label]: key }, value })),
    });
  const byCode = byLabel('code');
  const byKind = byLabel('kind');
  const meter = (m: HealthBody['meterStatus'][number]) => ({ meter: m.id, driver: m.driver });
  const b = h.buffer;
  const families: Family[] = [
    gauge('meterspace_info', 'Constant 1; labels: the gateway id and contract version', 1, {
      gateway: h.gateway,
      contract: String(h.v),
    }),
    gauge('meterspace_uptime_seconds', 'Seconds since the gateway started', h.uptimeSeconds),
    ...(h.clock
      ? [
          {
            name: 'meterspace_clock_state',
            help: '1 for the data clock state: ok, unset (system clock not set) or behind (stepped back)',
            type: 'gauge' as const,
            samples: CLOCK_STATES.map((state) => ({
              labels: { state },
              value: h.clock!.state === state ? 1 : 0,
            })),
          },
          gauge(
            'meterspace_clock_behind_seconds',
            'How far the system clock reads behind the data clock, which stands still meanwhile',
            h.clock.behindSeconds,
          ),
        ]
      : []),
    gauge('meterspace_meters_configured', 'Meters in the configuration', h.meters.configured),
    gauge('meterspace_meters_seen', 'Meters with a reading accepted since the start', h.meters.seen),
    {
      name: 'meterspace_meters',
      help: 'Meters by state (up, stale: no reading for observe.staleIntervals intervals, down: link down)',
      type: 'gauge',
      samples: STATES.map((state) => ({ labels: { state }, value: h.meters[state] })),
    },
    {
      name: 'meterspace_readings_accepted_total',
      help: 'Readings accepted (encrypted and stored) since the start',
      type: 'counter',
      samples: [{ value: h.readings.accepted }],
    },
    gauge(
      'meterspace_readings_last_interval_accepted',
      'Readings accepted for the newest interval past the aggregation grace',
      h.readings.lastInterval.accepted,
    ),
    gauge(
      'meterspace_readings_last_interval_end_timestamp_seconds',
      'End of that interval (data clock, Unix seconds)',
      Date.parse(h.readings.lastInterval.end) / 1000,
    ),
    byCode('meterspace_readings_rejected_total', 'Readings refused, by error code', h.readings.rejected),
    byCode(
      'meterspace_frames_rejected_total',
      'Meter frames and payloads refused, by code',
      h.frames.rejected,
    ),
    {
      name: 'meterspace_groups_total',
      help: 'Neighbourhood intervals decided: released (at least k meters) or suppressed',
      type: 'counter',
      samples: [
        { labels: { outcome: 'released' }, value: h.groups.released },
        { labels: { outcome: 'suppressed' }, value: h.groups.suppressed },
      ],
    },
    gauge('meterspace_buffer_pending_readings', 'Ciphertexts awaiting release', b.pendingReadings),
    gauge('meterspace_buffer_held_readings', "Ciphertexts held for the gateway's clock", b.heldReadings),
    gauge('meterspace_outbox_records', 'Records not yet acknowledged by the MDMS', b.outboxRecords),
    gauge('meterspace_outbox_unbatched_records', 'Records not yet in a batch', b.unbatchedRecords),
    gauge('meterspace_outbox_batches', 'Signed batches not yet acknowledged', b.batches),
    gauge(
      'meterspace_outbox_oldest_unacked_batch_age_seconds',
      'Age of the oldest unacknowledged batch; 0 when there is none',
      b.oldestUnackedBatchAgeSeconds ?? 0,
    ),
    gauge(
      'meterspace_buffer_full',
      '1 while buffer.maxPendingReadings or buffer.maxOutboxRecords is reached, else 0',
      b.full ? 1 : 0,
    ),
    {
      name: 'meterspace_readings_not_aggregated_total',
      help: 'Readings billed but not kept for aggregation because the buffer was full',
      type: 'counter',
      samples: [{ value: b.notAggregated ?? 0 }],
    },
    byKind('meterspace_outbox_dropped_total', 'Unbatched records dropped by the buffer limits, by kind', {
      aggregate: b.dropped?.aggregate ?? 0,
      suppressed: b.dropped?.suppressed ?? 0,
    }),
    ...(h.disk
      ? [
          gauge('meterspace_disk_total_bytes', 'Size of the data directory file system', h.disk.totalBytes),
          gauge('meterspace_disk_available_bytes', 'Bytes available there', h.disk.availableBytes),
        ]
      : []),
    ...(h.storage
      ? [
          gauge(
            'meterspace_storage_writable',
            '1 while the buffer takes writes; 0 from a write refused by the storage (disk full, read-only) or once the buffer is found corrupt',
            h.storage.writable ? 1 : 0,
          ),
          gauge(
            'meterspace_storage_failing_since_timestamp_seconds',
            'When writes began to fail (Unix seconds); 0 while writable',
            h.storage.failingSince ? Date.parse(h.storage.failingSince) / 1000 : 0,
          ),
          gauge(
            'meterspace_storage_unstored_readings',
            'Ciphertexts waiting in memory for the buffer to take writes again',
            h.storage.unstoredReadings,
          ),
          gauge(
            'meterspace_storage_corrupt',
            '1 once a statement found the buffer corrupt (SQLITE_CORRUPT, SQLITE_NOTADB): nothing is deleted from it; recover it (docs/buffer.md)',
            h.storage.corrupt ? 1 : 0,
          ),
          gauge(
            'meterspace_buffer_data_loss_accepted_timestamp_seconds',
            'When a start last accepted a buffer behind its marker (--accept-data-loss; Unix seconds); 0 if never',
            h.storage.dataLossAccepted ? Date.parse(h.storage.dataLossAccepted.at) / 1000 : 0,
          ),
        ]
      : []),
    ...(h.delivery
      ? [
          gauge(
            'meterspace_batches_quarantined',
            'Batches set aside for good (damaged or refused by the MDMS), in the buffer now: data the MDMS lacks',
            h.delivery.quarantinedBatches,
          ),
          byCode(
            'meterspace_batches_quarantined_total',
            'Batches quarantined, by code',
            h.delivery.quarantined,
          ),
          byCode('meterspace_batches_nacked_total', "The MDMS's signed refusals, by code", h.delivery.nacked),
          byLabel('reason')(
            'meterspace_batches_refused_by_broker_total',
            'Batch publishes the broker refused (MQTT 5 PUBACK reason code >= 0x80), by reason',
            Object.fromEntries(
              Object.entries(counters)
                .filter(([n]) => n.startsWith('batches.refused_by_broker.'))
                .map(([n, v]) => [n.slice('batches.refused_by_broker.'.length), v]),
            ),
          ),
          gauge(
            'meterspace_ack_latency_seconds',
            "Median of the MDMS's recent acknowledgement latencies (paces re-sends); 0 before the first",
            h.delivery.ackLatencySeconds ?? 0,
          ),
        ]
      : []),
    gauge('meterspace_memory_rss_bytes', 'Resident set size of the process', h.memory.rssBytes),
    gauge('meterspace_memory_heap_used_bytes', 'V8 heap in use', h.memory.heapUsedBytes),
    gauge('meterspace_memory_heap_total_bytes', 'V8 heap reserved', h.memory.heapTotalBytes),
    {
      name: 'meterspace_meter_state',
      help: 'Per meter: 1 for its current state (up, stale or down), 0 for the others',
      type: 'gauge',
      samples: h.meterStatus.flatMap((m) =>
        STATES.map((state) => ({ labels: { ...meter(m), state }, value: m.state === state ? 1 : 0 })),
      ),
    },
    {
      name: 'meterspace_meter_last_interval_end_timestamp_seconds',
      help: 'Per meter: end of its newest accepted interval (data clock, Unix seconds)',
      type: 'gauge',
      samples: h.meterStatus
        .filter((m) => m.lastIntervalEnd !== null)
        .map((m) => ({ labels: meter(m), value: Date.parse(m.lastIntervalEnd!) / 1000 })),
    },
    {
      name: 'meterspace_meter_readings_accepted_total',
      help: 'Per meter: readings accepted since the start',
      type: 'counter',
      samples: h.meterStatus.map((m) => ({ labels: meter(m), value: m.accepted })),
    },
    {
      name: 'meterspace_meter_rejected_total',
      help: 'Per meter: readings and frames refused since the start, by code',
      type: 'counter',
      samples: h.meterStatus.flatMap((m) =>
        Object.entries(m.rejected).map(([code, value]) => ({ labels: { ...meter(m), code }, value })),
      ),
    },
    {
      name: 'meterspace_events_total',
      help: 'Every other gateway counter, by its name (docs/protocol.md section 8)',
      type: 'counter',
      samples: Object.entries(counters)
        .filter(([name]) => !NAMED_COUNTERS.some((p) => p.test(name)))
        .map(([counter, value]) => ({ labels: { counter }, value })),
    },
  ];
  return families.map(render).join('');
}

function render(f: Family): string {
  let text = `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n`;
  for (const s of f.samples) text += `${f.name}${labelText(s.labels)} ${numberText(s.value)}\n`;
  return text;
}

function labelText(labels: Labels | undefined): string {
  if (!labels) return '';
  const pairs = Object.entries(labels).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return `{${pairs.join(',')}}`;
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}
