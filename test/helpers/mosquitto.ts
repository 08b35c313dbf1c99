/**
 * A real Mosquitto broker process for a test, on a free loopback port. Missing Mosquitto is a failure, never a
 * skip: .ci/run installs it (apt-get install mosquitto).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports.ts';

export interface Mosquitto {
  url: string;
  port: number;
  /** Stops the broker (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop). */
  restart(): Promise<void>;
}

function mosquittoBinary(): string {
  for (const candidate of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', 'mosquitto']) {
    if (spawnSync(candidate, ['-h'], { stdio: 'ignore' }).error === undefined) return candidate;
  }
  throw new Error('mosquitto is not installed: run `apt-get install -y mosquitto` (done by .ci/run)');
}

export async function startMosquitto(extraConfig = ''): Promise<Mosquitto> {
  const bin = mosquittoBinary();
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'mosq-'));
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n${extraConfig}\n`,
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(bin, ['-c', conf], { stdio: 'ignore' });
    await waitForPort(port);
  };
  const stop = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();
  return { url: `mqtt://127.0.0.1:${port}`, port, stop, restart: start };
}
