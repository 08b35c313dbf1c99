/**
 * Killing a process at a chosen moment of its file activity, for the crash-consistency tests: a worker thread
 * watches a file or directory (inotify, through fs.watch) and sends SIGKILL on the first matching event. The
 * worker has its own event loop, so the kill is not delayed by the test's main thread (which decrypts at the
 * MDMS); from an event to the kill is a fraction of a millisecond, well inside a SQLite checkpoint's fsync.
 *
 * Also: the WAL index of a SQLite database read from its -shm file, which a killed process leaves as it was,
 * to tell whether a checkpoint was under way (sqlite/src/wal.c: WalIndexHdr, twice, then WalCkptInfo).
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { pid, target, match, delayMs } = workerData;
const pattern = match ? new RegExp(match) : undefined;
setTimeout(() => {
  const watcher = fs.watch(target, (event, name) => {
    if (pattern && !pattern.test(String(name))) return;
    try { process.kill(pid, 'SIGKILL'); } catch {}
    watcher.close();
    parentPort.postMessage({ event, name: String(name) });
  });
  parentPort.postMessage({ armed: true });
}, delayMs);
`;

export interface KillTrigger {
  /** Resolves with the event's file name once the kill was sent, or undefined when cancelled first. */
  fired: Promise<string | undefined>;
  /** Resolves once the watch is in place (after the delay). */
  armed: Promise<void>;
  cancel: () => Promise<void>;
}

/**
 * SIGKILLs `pid` on the first event on `target` (a file: any change; a directory: an entry whose name matches
 * `match`) that happens after `delayMs`.
 */
export function killOnFileEvent(pid: number, target: string, delayMs = 0, match?: RegExp): KillTrigger {
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { pid, target, match: match?.source, delayMs },
  });
  let settle: (name: string | undefined) => void = () => {};
  const fired = new Promise<string | undefined>((resolve) => (settle = resolve));
  const armed = new Promise<void>((resolve) => {
    worker.on('message', (m: { armed?: boolean; name?: string }) => {
      if (m.armed) return resolve();
      settle(m.name);
      void worker.terminate();
    });
  });
  worker.on('error', () => settle(undefined));
  worker.on('exit', () => settle(undefined));
  return {
    fired,
    armed,
    cancel: async () => {
      await worker.terminate();
      settle(undefined);
    },
  };
}

export interface WalIndex {
  /** Frames in the WAL (the last committed one). */
  mxFrame: number;
  /** Frames copied back into the database by the last checkpoint that completed. */
  nBackfill: number;
  /** Frames the last checkpoint set out to copy: above nBackfill while one is under way (or was cut short). */
  nBackfillAttempted: number;
}

/** The WAL index of `dbFile` as its -shm file holds it, or undefined without one. */
export function readWalIndex(dbFile: string): WalIndex | undefined {
  let shm: Buffer;
  try {
    shm = readFileSync(`${dbFile}-shm`);
  } catch {
    return undefined;
  }
  if (shm.length < 136) return undefined;
  return {
    mxFrame: shm.readUInt32LE(16),
    nBackfill: shm.readUInt32LE(96),
    nBackfillAttempted: shm.readUInt32LE(128),
  };
}
