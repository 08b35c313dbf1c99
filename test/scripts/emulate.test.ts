/**
 * scripts/emulate as a technician runs it: help, usage errors with exit code 2, and a DSMR meter on a pty pair
 * whose telegrams a reader on the gateway end receives with valid CRCs and the household's register.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { importEnergyWh } from '../../drivers/common/import-energy.ts';
import { TelegramFramer } from '../../drivers/dsmr/telegram-framer.ts';
import { parseTelegram } from '../../drivers/dsmr/telegram-parser.ts';
import { openSerialPort } from '../../drivers/serial/serial-link.ts';
import { waitFor } from '../helpers/wait.ts';

const EMULATE = path.resolve(import.meta.dirname, '../../scripts/emulate');
const exec = promisify(execFile);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(EMULATE, args);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('scripts/emulate', () => {
  it('--help names every protocol', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const p of ['dsmr', 'sml', 'iec62056-21', 'mqtt', 'modbus-tcp', 'modbus-rtu'])
      expect(r.stdout).toContain(p);
  });

  it('exits 2 on usage errors', async () => {
    for (const args of [
      [],
      ['zigbee'],
      ['dsmr', '--dsmr-version', '9'],
      ['mqtt', '--format', 'xml'],
      ['mqtt', '--format', 'sealed'],
    ]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^error: /);
    }
  });

  it('plays a household as a DSMR 5 meter on a pty pair', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'emu-'));
    const child = spawn(
      EMULATE,
      ['dsmr', '--pty', dir, '--speed', '600', '--step', '10', '--start', '2012-10-09T00:00:00Z'],
      {
        stdio: 'ignore',
      },
    );
    try {
      await waitFor(() => existsSync(path.join(dir, 'gateway')), 10_000, 'the pty pair');
      const port = await openSerialPort(path.join(dir, 'gateway'), {
        baudRate: 115200,
        dataBits: 8,
        parity: 'none',
        stopBits: 1,
      });
      const registers: number[] = [];
      const framer = new TelegramFramer();
      framer.on('data', (t: Buffer) => registers.push(importEnergyWh(parseTelegram(t))!));
      port.stream.on('data', (chunk: Buffer) => framer.write(chunk));
      await waitFor(() => registers.length >= 5, 10_000, 'five telegrams');
      await port.close();
      // The register starts at --initial-kwh (12345.678 kWh) and never goes down.
      expect(registers[0]).toBeGreaterThanOrEqual(12_345_678);
      for (let i = 1; i < registers.length; i++)
        expect(registers[i]).toBeGreaterThanOrEqual(registers[i - 1]!);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
