/**
 * The buffer, its WAL and SHM, its directory and the log file are private to the gateway's user whatever the umask
 * (issue #14 C), on real files with umask 000; loose modes left by a previous run or a copy are tightened and
 * reported so the gateway can warn.
 */
import { chmodSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../gateway/buffer/database.ts';
import { createLogger } from '../../../gateway/observe/log.ts';

const modeOf = (p: string) => statSync(p).mode & 0o777;

let umask: number;
beforeAll(() => {
  umask = process.umask(0o000);
});
afterAll(() => {
  process.umask(umask);
});

function scratch(): string {
  return mkdtempSync(path.join(tmpdir(), 'private-'));
}

describe('the buffer under umask 000', () => {
  it('creates the data directory 0700 and the database, WAL and SHM 0600', () => {
    const dataDir = path.join(scratch(), 'var', 'data');
    const file = path.join(dataDir, 'buffer.sqlite');
    const loose: string[][] = [];
    const db = openDatabase(file, { synchronous: 'NORMAL', onLoosePaths: (p) => loose.push(p) });
    db.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    try {
      expect(modeOf(dataDir)).toBe(0o700);
      expect(modeOf(path.dirname(dataDir))).toBe(0o700);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect([f, modeOf(f)]).toEqual([f, 0o600]);
      expect(loose).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('tightens an existing world-readable directory, database and WAL, and names each', () => {
    const dataDir = path.join(scratch(), 'var');
    const file = path.join(dataDir, 'buffer.sqlite');
    openDatabase(file, { synchronous: 'NORMAL' }).close();
    mkdirSync(dataDir, { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(file, 0o644);
    writeFileSync(`${file}-wal`, '');
    chmodSync(`${file}-wal`, 0o666);
    const loose: string[][] = [];
    const db = openDatabase(file, { synchronous: 'NORMAL', onLoosePaths: (p) => loose.push(p) });
    db.close();
    expect(loose).toEqual([[dataDir, file, `${file}-wal`]]);
    expect([modeOf(dataDir), modeOf(file)]).toEqual([0o700, 0o600]);
  });
});

describe('the log file under umask 000', () => {
  it('is created 0600 in a new directory 0700, and an existing loose one is tightened', () => {
    const file = path.join(scratch(), 'logs', 'gateway.log');
    createLogger({ level: 'info', file }).info('hello');
    expect([modeOf(path.dirname(file)), modeOf(file)]).toEqual([0o700, 0o600]);

    const old = path.join(scratch(), 'old.log');
    writeFileSync(old, '');
    chmodSync(old, 0o644);
    createLogger({ level: 'info', file: old });
    expect(modeOf(old)).toBe(0o600);
  });
});
