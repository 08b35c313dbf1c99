/**
 * sd_notify for real: messages go through the real systemd-notify into a real unix datagram socket. The gateway
 * process, started as a technician (and systemd) starts it, reports READY=1 once started, WATCHDOG=1 every half
 * WATCHDOG_USEC and STOPPING=1 on SIGTERM; an event loop that is stuck sends no ping.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../gateway/observe/log.ts';
import { SystemdNotifier, watchdogIntervalMs } from '../../../gateway/observe/systemd-notify.ts';
import { makeKeySet, type KeySet } from '../../helpers/keys.ts';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import { openNotifySocket, timesOf, type NotifySocket } from '../../helpers/notify-socket.ts';
import { GATEWAY_BIN, makeScenario, TEST_METERS, waitFor } from '../../helpers/scenario.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchdog settings from the environment systemd sets', () => {
  it('pings every half WATCHDOG_USEC, only for the process named by WATCHDOG_PID', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({}, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42)).toBeUndefined();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
  });

  it('does nothing without NOTIFY_SOCKET (not started by systemd)', () => {
    expect(SystemdNotifier.fromEnv({ WATCHDOG_USEC: '1000000' }, silentLogger())).toBeUndefined();
    expect(SystemdNotifier.fromEnv({ NOTIFY_SOCKET: '/run/x' }, silentLogger())).toBeInstanceOf(
      SystemdNotifier,
    );
  });
});

describe('systemd-notify into a real notification socket', () => {
  let socket: NotifySocket;
  beforeAll(async () => {
    socket = await openNotifySocket();
  });
  afterAll(() => socket?.close());

  it('sends no watchdog ping while the event loop is stuck', async () => {
    const notifier = new SystemdNotifier({
      env: { ...process.env, NOTIFY_SOCKET: socket.path },
      log: silentLogger(),
      watchdogMs: 100,
    });
    notifier.ready();
    await sleep(800);
    const blockedFrom = Date.now();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500); // the loop is stuck for 1.5 s
    const blockedTo = Date.now();
    await sleep(800);
    await notifier.stopping();
    await sleep(200);

    const messages = socket.messages();
    expect(messages[0]!.lines).toEqual(['READY=1', 'STATUS=running']);
    expect(messages.at(-1)!.lines).toEqual(['STOPPING=1', 'STATUS=stopping']);
    const pings = timesOf(messages, 'WATCHDOG=1');
    // Pings before and after the stall, none inside it (a ping already on its way may land in its first 100 ms).
    expect(pings.filter((t) => t < blockedFrom).length).toBeGreaterThanOrEqual(4);
    expect(pings.filter((t) => t > blockedTo).length).toBeGreaterThanOrEqual(4);
    expect(pings.filter((t) => t > blockedFrom + 100 && t < blockedTo)).toEqual([]);
    const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(1400);
    expect(Math.min(...timesOf(messages, 'STOPPING=1'))).toBeGreaterThan(Math.max(...pings));
  }, 20_000);

  it('logs once, and goes on, when systemd-notify cannot be run', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const notifier = new SystemdNotifier({
      env: { NOTIFY_SOCKET: socket.path },
      log,
      watchdogMs: 50,
      command: '/nonexistent/systemd-notify',
    });
    notifier.ready();
    await sleep(400);
    await notifier.stopping();
    const errors = lines.map((l) => JSON.parse(l) as { level: number; message?: string; reason?: string });
    const failures = errors.filter((e) => e.level === 50);
    // One line per kind of message (READY=1, WATCHDOG=1, STOPPING=1), not one per ping.
    expect(failures.map((e) => e.message)).toEqual(['READY=1', 'WATCHDOG=1', 'STOPPING=1']);
    expect(failures[0]!.reason).toMatch(/ENOENT/);
  });
});

describe('the gateway process under a notify socket', () => {
  let broker: Mosquitto;
  let keys: KeySet;
  let socket: NotifySocket;
  beforeAll(async () => {
    [broker, keys, socket] = await Promise.all([startMosquitto(), makeKeySet(), openNotifySocket()]);
  }, 60_000);
  afterAll(async () => {
    await socket?.close();
    await broker?.stop();
  });

  it('reports READY=1 once started, WATCHDOG=1 every half WATCHDOG_USEC, STOPPING=1 on SIGTERM', async () => {
    const scenario = makeScenario({
      keys,
      brokerUrl: broker.url,
      from: '2012-10-10T00:00:00Z',
      to: '2012-10-10T02:00:00Z',
      speed: 1,
      meters: TEST_METERS.slice(0, 5),
    });
    const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '1000000' };
    delete env.WATCHDOG_PID;
    const child = spawn(GATEWAY_BIN, ['--config', scenario.configFile], { env, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const log = () => {
      try {
        return readFileSync(scenario.logFile, 'utf8');
      } catch {
        return '';
      }
    };
    try {
      await waitFor(() => timesOf(socket.messages(), 'READY=1').length > 0, 60_000, 'READY=1', log);
      // Ready only once the gateway has started (its log says so first).
      expect(log()).toMatch(/"msg":"started"/);
      expect(timesOf(socket.messages(), 'WATCHDOG=1')).toEqual([]);
      await waitFor(() => timesOf(socket.messages(), 'WATCHDOG=1').length >= 4, 10_000, 'four pings', log);
      const pings = timesOf(socket.messages(), 'WATCHDOG=1');
      const gaps = pings.slice(1).map((t, i) => t - pings[i]!);
      // Every 500 ms; a busy 2-core machine may delay a timer, never hurry it.
      expect(Math.min(...gaps)).toBeGreaterThan(350);
      expect(Math.max(...gaps)).toBeLessThan(2000);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await waitFor(() => timesOf(socket.messages(), 'STOPPING=1').length > 0, 5000, 'STOPPING=1');
      const messages = socket.messages();
      expect(messages.filter((m) => m.lines.includes('READY=1'))).toHaveLength(1);
      expect(messages.every((m) => m.lines.every((l) => /^(READY|WATCHDOG|STOPPING|STATUS)=/.test(l)))).toBe(
        true,
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);
});
