/**
 * The soak's checks and its report. "Bounded" and "not falling behind" are judged by comparing the last quarter
 * of the run with the second (the first is start-up: tables, pool filling, the first batches).
 */
import type { Sample } from './sampler.ts';
import type { SumsComparison } from './expected-sums.ts';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

function quarters(samples: readonly Sample[]): { second: Sample[]; last: Sample[] } {
  const q = Math.max(1, Math.floor(samples.length / 4));
  return { second: samples.slice(q, 2 * q), last: samples.slice(-q) };
}

export function judge(o: {
  samples: readonly Sample[];
  final: Sample;
  expectedReadings: number;
  publishFailures: number;
  sums: SumsComparison;
  rssGrowthMb: number;
  /** One interval's readings: the slack allowed in the buffer's depth. */
  meters: number;
}): Check[] {
  const { second, last } = quarters(o.samples);
  // The release lag is known from the first released interval on: its quarters are those of the samples with one.
  const released = quarters(o.samples.filter((s) => s.lagMinutes !== null));
  const rss = (xs: Sample[]) => median(xs.map((s) => s.rssMb));
  const lag = (xs: Sample[]) => median(xs.map((s) => s.lagMinutes!));
  const pending = (xs: Sample[]) => Math.max(...xs.map((s) => s.pendingReadings));
  const growth = rss(last) - rss(second);
  const s = o.sums;
  return [
    {
      name: 'every published sample became a reading',
      ok: o.publishFailures === 0 && o.final.readingsAccepted === o.expectedReadings,
      detail: `${o.final.readingsAccepted} accepted of ${o.expectedReadings} expected; ${o.publishFailures} publications failed`,
    },
    {
      name: 'every neighbourhood interval reached the MDMS once, with the published sum',
      ok: s.expected > 0 && s.matched === s.expected && s.missing + s.wrong + s.duplicated === 0,
      detail: `${s.matched} of ${s.expected} exact; ${s.missing} missing, ${s.wrong} wrong, ${s.duplicated} duplicated`,
    },
    {
      name: 'did not fall behind',
      ok: lag(released.last) <= lag(released.second) + 1 && pending(last) <= pending(second) + o.meters,
      detail:
        `release lag (virtual minutes, median) ${lag(released.second).toFixed(1)} → ` +
        `${lag(released.last).toFixed(1)}; ` +
        `pending readings (max) ${pending(second)} → ${pending(last)}`,
    },
    {
      name: `resident memory bounded (growth ≤ ${o.rssGrowthMb} MB)`,
      ok: growth <= o.rssGrowthMb,
      detail: `median RSS ${rss(second).toFixed(1)} MB (second quarter) → ${rss(last).toFixed(1)} MB (last quarter); peak ${Math.max(...o.samples.map((x) => x.rssMb)).toFixed(1)} MB`,
    },
  ];
}

export function soakMarkdown(o: {
  meters: number;
  minutes: number;
  speed: number;
  bits: number;
  broker: string;
  samples: readonly Sample[];
  final: Sample;
  verdict: readonly Check[];
}): string {
  const first = o.samples[0];
  const cpu =
    first && o.final.t > first.t ? (o.final.cpuSeconds - first.cpuSeconds) / (o.final.t - first.t) : NaN;
  const readingsPerSecond = first
    ? (o.final.readingsAccepted - first.readingsAccepted) / (o.final.t - first.t)
    : NaN;
  const step = Math.max(1, Math.ceil(o.samples.length / 24));
  const rows = o.samples.filter((_, i) => i % step === 0 || i === o.samples.length - 1);
  return [
    `Soak: ${o.meters} MQTT meters at 1-minute intervals, ${o.minutes} real minutes at speed ${o.speed} ` +
      `(${((o.meters * o.speed) / 60).toFixed(0)} readings per second), ${o.bits}-bit key, broker ${o.broker}.`,
    '',
    `Readings accepted: ${o.final.readingsAccepted} (${readingsPerSecond.toFixed(1)} per second); gateway CPU ` +
      `${(cpu * 100).toFixed(1)} % of one core on average (both threads).`,
    '',
    '| check | result | detail |',
    '|---|---|---|',
    ...o.verdict.map((v) => `| ${v.name} | ${v.ok ? 'pass' : '**FAIL**'} | ${v.detail} |`),
    '',
    '| minute | readings | RSS MB | heap MB | CPU s | pending | outbox | lag (virtual min) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (s) =>
        `| ${(s.t / 60).toFixed(1)} | ${s.readingsAccepted} | ${s.rssMb.toFixed(1)} | ${s.heapUsedMb.toFixed(1)} | ` +
        `${s.cpuSeconds.toFixed(1)} | ${s.pendingReadings} | ${s.outboxRecords} | ${s.lagMinutes?.toFixed(1) ?? '-'} |`,
    ),
    '',
  ].join('\n');
}
