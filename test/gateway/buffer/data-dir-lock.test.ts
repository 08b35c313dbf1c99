/**
 * One gateway per data directory (issue #20): the lock on a real file, taken twice in one process (SQLite refuses
 * the second connection as another process's would be), released, probed by the doctor without being held, and
 * freed by the kernel when its holder is killed with SIGKILL (no stale lock).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataDirLock, lockHolder, PID_FILE } from '../../../gateway/buffer/data-dir-lock.ts';
import { isGatewayError } from '../../../gateway/errors.ts';
import { waitFor } from '../../helpers/wait.ts';

const tempDir = () => mkdtempSync(path.join(tmpdir(), 'lock-'));

function secondAcquire(dir: string): Error {
  try {
    DataDirLock.acquire(dir).release();
  } catch (error) {
    expect(isGatewayError(error, 'DATA_DIR_LOCKED'), String(error)).toBe(true);
    return error as Error;
  }
  throw new Error('the second lock was granted');
}

describe('the data directory lock', () => {
  it('refuses a second holder naming the first one by PID, and is free again once released', () => {
    const dir = tempDir();
    const lock = DataDirLock.acquire(dir);
    expect(readFileSync(path.join(dir, PID_FILE), 'utf8').trim()).toBe(String(process.pid));
    expect(statSync(path.join(dir, 'gateway.lock')).mode & 0o777).toBe(0o600);
    expect(secondAcquire(dir).message).toContain(`${dir} is in use by the gateway with PID ${process.pid}`);
    expect(lockHolder(dir)).toBe(process.pid);
    lock.release();
    expect(existsSync(path.join(dir, PID_FILE))).toBe(false);
    expect(lockHolder(dir)).toBeUndefined();
    DataDirLock.acquire(dir).release();
  });

  it('the doctor’s probe does not keep a gateway from taking the lock', () => {
    const dir = tempDir();
    DataDirLock.acquire(dir).release();
    expect(lockHolder(dir)).toBeUndefined();
    const lock = DataDirLock.acquire(dir);
    lock.release();
  });

  it('a holder killed with SIGKILL leaves no stale lock, whatever its PID file says', async () => {
    const dir = tempDir();
    const script = `import { DataDirLock } from ${JSON.stringify(path.resolve('gateway/buffer/data-dir-lock.ts'))};
      DataDirLock.acquire(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('locked'), 30_000, 'the child to take the lock');
    expect(lockHolder(dir)).toBe(child.pid);
    expect(secondAcquire(dir).message).toContain(`PID ${child.pid}`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // The PID file still names the dead process; the lock is free all the same.
    expect(readFileSync(path.join(dir, PID_FILE), 'utf8').trim()).toBe(String(child.pid));
    expect(lockHolder(dir)).toBeUndefined();
    DataDirLock.acquire(dir).release();
  }, 60_000);
});
