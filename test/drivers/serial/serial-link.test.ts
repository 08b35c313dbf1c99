/**
 * The serial link over a real pseudo-terminal pair (socat): bytes arrive, a pulled plug (socat killed) is noticed
 * and the port is reopened when it comes back at the same path, with no restart; a silent port is reported; a
 * port that does not exist is retried and its error names the fix.
 */
import { writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { serialOpenError } from '../../../drivers/serial/serial-errors.ts';
import { openSerialPort, SerialLink, type LinkState } from '../../../drivers/serial/serial-link.ts';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { Metrics } from '../../../gateway/observe/metrics.ts';
import { openPtyPair, type PtyPair } from '../../../scripts/lib/pty-pair.ts';
import { waitFor } from '../../helpers/wait.ts';

const LINE = { baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1 } as const;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup(silenceMs = 60_000) {
  const dir = mkdtempSync(path.join(tmpdir(), 'pty-'));
  const meter = path.join(dir, 'meter');
  const gateway = path.join(dir, 'gateway');
  const received: Buffer[] = [];
  const states: LinkState[] = [];
  const metrics = new Metrics();
  const link = new SerialLink(
    { name: 'p1', path: gateway, line: LINE, silenceMs, reopenInitialMs: 50, reopenMaxMs: 200 },
    {
      open: openSerialPort,
      onData: (c) => received.push(c),
      onState: (s) => states.push(s),
      metrics,
      log: silentLogger(),
    },
  );
  cleanups.push(() => link.stop());
  const text = () => Buffer.concat(received).toString();
  return { meter, gateway, link, text, states, metrics };
}

async function plug(meter: string, gateway: string): Promise<PtyPair> {
  const pair = await openPtyPair(meter, gateway);
  cleanups.push(() => pair.close());
  return pair;
}

describe('SerialLink over a pty pair', () => {
  it('receives bytes, survives an unplug and reads again after the replug', async () => {
    const s = setup();
    const first = await plug(s.meter, s.gateway);
    await s.link.start();
    expect(s.link.state).toBe('open');
    writeFileSync(s.meter, 'hello ');
    await waitFor(() => s.text() === 'hello ');

    await first.close();
    await waitFor(() => s.link.state === 'failed');
    expect(s.metrics.get('serial.lost.SERIAL_PORT_FAILED')).toBe(1);

    await plug(s.meter, s.gateway);
    await waitFor(() => s.link.state === 'open');
    writeFileSync(s.meter, 'again');
    await waitFor(() => s.text() === 'hello again');
    // Opened, lost, then (after as many failed attempts as the replug took) opened again.
    expect(s.states.slice(0, 3)).toEqual(['opening', 'open', 'failed']);
    expect(s.states.slice(-2)).toEqual(['opening', 'open']);
    expect(new Set(s.states)).toEqual(new Set(['opening', 'open', 'failed']));
  });

  it('retries a port that is not there yet, then opens it', async () => {
    const s = setup();
    await s.link.start();
    expect(s.link.state).toBe('failed');
    await waitFor(() => s.metrics.get('serial.open_failed.SERIAL_PORT_FAILED') >= 2);
    await plug(s.meter, s.gateway);
    await waitFor(() => s.link.state === 'open');
  });

  it('reports a silent port and its recovery', async () => {
    const s = setup(150);
    await plug(s.meter, s.gateway);
    await s.link.start();
    await waitFor(() => s.link.state === 'silent');
    expect(s.metrics.get('serial.silent')).toBe(1);
    writeFileSync(s.meter, 'x');
    await waitFor(() => s.link.state === 'open');
  });
});

describe('serial open errors', () => {
  it('name the fix', () => {
    const denied = serialOpenError(
      '/dev/ttyUSB0',
      Object.assign(new Error('Permission denied'), { code: 'EACCES' }),
    );
    expect(denied.code).toBe('SERIAL_PERMISSION');
    expect(denied.message).toMatch(/dialout/);
    const missing = serialOpenError(
      '/dev/ttyUSB0',
      new Error('Error: No such file or directory, cannot open'),
    );
    expect(missing.code).toBe('SERIAL_PORT_FAILED');
    expect(missing.message).toMatch(/plugged in/);
    expect(
      serialOpenError('/dev/ttyUSB0', new Error('Resource temporarily unavailable Cannot lock port')).message,
    ).toMatch(/in use/);
  });
});
