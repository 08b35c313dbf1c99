/**
 * A pair of connected pseudo-terminals made by socat: what one end writes, the other reads, like the two ends of
 * a null-modem cable. The emulator writes a meter's bytes into one end; the gateway opens the other as if it were
 * /dev/ttyUSB0. Killing socat is the closest thing to pulling the USB plug: the links disappear and the open end
 * fails with EIO.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface PtyPair {
  /** The end a meter (emulator) writes to. */
  meterEnd: string;
  /** The end the gateway opens. */
  gatewayEnd: string;
  /** Kills socat and waits until both links are gone ("unplug"). */
  close(): Promise<void>;
}

export function socatAvailable(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).error === undefined;
}

/** Starts socat with two pty links at the given paths and waits until both exist. */
export async function openPtyPair(meterEnd: string, gatewayEnd: string): Promise<PtyPair> {
  if (!socatAvailable()) {
    throw new Error('socat is not installed: run `apt-get install -y socat` (done by .ci/run)');
  }
  // raw, echo=0: bytes pass unchanged (no line discipline turning \n into \r\n or echoing them back).
  const child: ChildProcess = spawn(
    'socat',
    [`pty,raw,echo=0,link=${meterEnd}`, `pty,raw,echo=0,link=${gatewayEnd}`],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 5000;
  while (!(existsSync(meterEnd) && existsSync(gatewayEnd))) {
    if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('socat did not create the pty links within 5 s');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    // socat removes its links on exit; wait for it so that a replug at the same path starts clean.
    const until = Date.now() + 2000;
    while ((existsSync(meterEnd) || existsSync(gatewayEnd)) && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { meterEnd, gatewayEnd, close };
}
