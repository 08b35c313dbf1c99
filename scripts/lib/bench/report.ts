/** The benchmark's outputs: a Markdown table, and an SVG bar chart (log scale) of CPU per reading. */
import type { DecryptionResult, EncryptionResult } from './encryption.ts';
import type { RunResult } from './run-pipeline.ts';

const f = (n: number, digits = 2) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function encryptionTable(rows: EncryptionResult[]): string {
  const lines = [
    '| bits | engine | samples | CPU ms / encryption | p50 ms | p99 ms | table MB | vs paillier-bigint |',
    '|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const base = rows.find((b) => b.bits === r.bits && b.engine === 'paillier-bigint');
    const ratio = base ? `${f(base.cpuMsPerEncryption / r.cpuMsPerEncryption, 1)}×` : '';
    lines.push(
      `| ${r.bits} | ${r.engine} | ${r.samples} | ${f(r.cpuMsPerEncryption, 3)} | ${f(r.latencyMs.p50, 3)} | ` +
        `${f(r.latencyMs.p99, 3)} | ${f(r.tableBytes / 1e6, 1)} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

export function decryptionTable(rows: DecryptionResult[]): string {
  const lines = [
    '| bits | method | samples | CPU ms / decryption | decryptions / CPU-second | vs paillier-bigint |',
    '|---:|---|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const base = rows.find((b) => b.bits === r.bits && b.method === 'paillier-bigint');
    const ratio = base ? `${f(base.cpuMsPerDecryption / r.cpuMsPerDecryption, 1)}×` : '';
    const perSecond = f(1000 / r.cpuMsPerDecryption, 0);
    lines.push(
      `| ${r.bits} | ${r.method} | ${r.samples} | ${f(r.cpuMsPerDecryption, 2)} | ${perSecond} | ${ratio} |`,
    );
  }
  return lines.join('\n');
}

export function pipelineTable(rows: RunResult[]): string {
  const lines = [
    '| bits | engine | meters | readings | readings / CPU-second | CPU ms / reading | mulmods / reading (µs each) | intake p50 / p99 ms | peak RSS MB | SQLite B / meter-day | upstream B / meter-day |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const l = r.intakeLatencyMs;
    lines.push(
      `| ${r.bits} | ${r.engine} | ${r.meters} | ${r.readings} | ${f(r.readingsPerCpuSecond, 0)} | ${f(r.cpuMsPerReading, 3)} | ` +
        `${f(r.mulmodsPerReading, 1)} (${f(r.refMulmodUs, 1)}) | ` +
        `${l ? `${f(l.p50, 2)} / ${f(l.p99, 2)}` : '-'} | ${f(r.peakRssMb, 0)} | ${f(r.sqliteBytesPerMeterDay, 0)} | ` +
        `${f(r.upstreamBytesPerMeterDay, 0)} |`,
    );
  }
  return lines.join('\n');
}

/** Horizontal bars of CPU ms per encryption and per pipeline reading, log scale, one row per measurement. */
export function chartSvg(enc: EncryptionResult[], runs: RunResult[]): string {
  const rows = [
    ...enc.map((r) => ({ label: `encrypt ${r.bits} ${r.engine}`, value: r.cpuMsPerEncryption })),
    ...runs.map((r) => ({ label: `pipeline ${r.bits} ${r.engine} ×${r.meters}`, value: r.cpuMsPerReading })),
  ];
  const width = 760;
  const left = 250;
  const barH = 22;
  const top = 40;
  const height = top + rows.length * (barH + 8) + 40;
  const min = 0.01;
  const max = Math.max(1000, ...rows.map((r) => r.value));
  const x = (v: number) =>
    left +
    ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) *
      (width - left - 80);
  const esc = (s: string) => s.replace(/[<&>]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' })[c]!);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">CPU milliseconds per encryption / per reading (log scale, lower is better)</text>`,
  ];
  for (const tick of [0.01, 0.1, 1, 10, 100, 1000].filter((t) => t <= max)) {
    parts.push(`<line x1="${x(tick)}" y1="${top - 5}" x2="${x(tick)}" y2="${height - 30}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(tick)}" y="${height - 15}" text-anchor="middle" fill="#555">${tick}</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * (barH + 8);
    const colour = r.label.includes('paillier-bigint')
      ? '#c0504d'
      : r.label.startsWith('pipeline')
        ? '#4f81bd'
        : '#9bbb59';
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(r.label)}</text>`);
    parts.push(
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(r.value) - left)}" height="${barH}" fill="${colour}"/>`,
    );
    parts.push(`<text x="${x(r.value) + 5}" y="${y + 15}">${f(r.value, 3)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
