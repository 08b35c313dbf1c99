/**
 * A port hung up while a read is under way (issue #7, seen in the real-meters e2e under load): the meter streams
 * bytes without a pause, and the plug is pulled (socat killed) while the gateway's event loop is busy, so the read
 * in flight returns data and the next one finds the line hung up. The `serialport` package read again at once on
 * every 0-byte read (end of file), recursively: the gateway spun on the dead descriptor, its heap growing by a
 * promise per read until it died, and never noticed the port was gone. Now each such hangup is a lost port
 * (counted), reopened after the replug, and the bytes flow again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSerialPort, SerialLink } from '../../../drivers/serial/serial-link.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openPtyPair, type PtyPair } from '../../../scripts/lib/pty-pair.ts';
import { waitFor } from '../../helpers/wait.ts';

const LINE = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 } as const;
const CYCLES = 3;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A meter that writes without a pause into its end (until the pty goes away). */
function flood(meter: string): ChildProcess {
  const child = spawn('sh', ['-c', 'exec cat /dev/zero > "$0"', meter], { stdio: 'ignore' });
  cleanups.push(() => void child.kill('SIGKILL'));
  return child;
}

/** Blocks the event loop, as a starved gateway is: what the read in flight returned waits for the loop. */
function blockLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

describe('a serial port hung up in the middle of a read', () => {
  it('is a lost port, every time, and is read again after the replug', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hangup-'));
    const meter = path.join(dir, 'meter');
    const gateway = path.join(dir, 'gateway');
    const metrics = new Metrics();
    let bytes = 0;
    const link = new SerialLink(
      { name: 'p1', path: gateway, line: LINE, silenceMs: 60_000, reopenInitialMs: 50, reopenMaxMs: 200 },
      { open: openSerialPort, onData: (c) => (bytes += c.length), metrics, log: silentLogger() },
    );
    cleanups.push(() => link.stop());
    const lost = () => metrics.get('serial.lost.SERIAL_PORT_FAILED');
    const heapBefore = process.memoryUsage().heapUsed;

    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const pair: PtyPair = await openPtyPair(meter, gateway);
      cleanups.push(() => pair.close());
      if (cycle === 1) await link.start();
      await waitFor(() => link.state === 'open', 10_000, `port open (cycle ${cycle})`);
      const writer = flood(meter);
      const from = bytes;
      await waitFor(() => bytes - from > 256 * 1024, 10_000, `bytes streaming (cycle ${cycle})`);
      // The plug is pulled while the loop is blocked: socat is gone before the gateway's next read.
      const unplugged = pair.close();
      blockLoop(300);
      await unplugged;
      await waitFor(() => lost() === cycle, 10_000, `the hangup noticed as a lost port (cycle ${cycle})`);
      expect(link.state).toBe('failed');
      writer.kill('SIGKILL');
    }
    expect(lost()).toBe(CYCLES);
    // No promise chain left growing on a dead descriptor (it grew by megabytes a second).
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
  }, 60_000);
});
