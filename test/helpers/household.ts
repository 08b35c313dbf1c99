/**
 * Households end to end: the household tool run as a user would (one-shot commands and long-running ones such
 * as `live` and `receive`), and a real gateway whose meters may be given enrolment codes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startHarness, type Harness } from './harness.ts';
import { runCli } from './run-cli.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const KEYGEN = path.join(ROOT, 'scripts/keygen');
export const CUSTOMER = path.join(ROOT, 'scripts/customer');

export interface RunningTool {
  child: ChildProcess;
  out: () => string;
  err: () => string;
}

/** Starts `scripts/customer <args>` and collects what it prints while it runs. */
export function spawnCustomer(args: string[]): RunningTool {
  const child = spawn(CUSTOMER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

/**
 * A harness whose gateway reads enrolment codes from `codesFile`, with the data starting `leadSeconds` from now
 * (time to start the gateway and enrol before the first reading).
 */
export async function startHouseholdHarness(o: {
  from: string;
  to: string;
  leadSeconds: number;
}): Promise<{ h: Harness; dir: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'household-'));
  const h = await startHarness({
    from: o.from,
    to: o.to,
    speed: 1800,
    anchor: new Date(Date.now() + o.leadSeconds * 1000).toISOString(),
    keysExtra: { enrolmentCodes: path.join(dir, 'enrolment-codes.json') },
  });
  return { h, dir };
}

/** The installer's step: a new enrolment code for a meter of the gateway (printed once). */
export async function issueCode(h: Harness, meterId: string): Promise<string> {
  const made = await runCli(KEYGEN, [
    'enrolment-code',
    '--config',
    h.scenario.configFile,
    '--meter',
    meterId,
  ]);
  if (made.code !== 0) throw new Error(`enrolment-code failed: ${made.stderr}`);
  return new RegExp(`^${meterId}\\t(\\S+)$`, 'm').exec(made.stdout)![1]!;
}

/**
 * `scripts/customer <args>` to completion. The gateway may answer slowly while the whole suite starves a 2-core
 * machine: the tool waits up to 90 s for it.
 */
export function customer(args: string[]) {
  return runCli(CUSTOMER, [...args, '--timeout', '90'], 150_000);
}
