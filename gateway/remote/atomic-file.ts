/**
 * Replacing a file so that a power cut at any moment leaves either the old or the new file, never half of one:
 * the new text goes to a temporary file beside it (same directory, same file system), is fsynced, renamed over
 * the old one, and the directory is fsynced so the rename itself is durable. The file keeps its mode.
 */
import {
  closeSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.ts';

/** The temporary file a process writes `file`'s new text to before the rename. */
function tempName(file: string, pid: number): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.tmp`);
}

/**
 * Removes the temporary files a process killed mid-write left beside `file` (a power cut or SIGKILL between the
 * write and the rename): they are never read, but each would stay for good. Called at start; returns the names.
 */
export function removeStaleTemps(file: string): string[] {
  const dir = path.dirname(file);
  const head = `.${path.basename(file)}.`;
  const ours = path.basename(tempName(file, process.pid));
  const stale = (n: string) => n !== ours && n.startsWith(head) && /^\d+\.tmp$/.test(n.slice(head.length));
  let names: string[];
  try {
    names = readdirSync(dir).filter(stale);
  } catch {
    return [];
  }
  for (const name of names) unlinkSync(path.join(dir, name));
  return names;
}

export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = tempName(file, process.pid);
  let mode = 0o600;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    // A new file: owner only.
  }
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    const dirFd = openSync(dir, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (cause) {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing was written, or the rename happened.
    }
    throw new GatewayError('STORAGE_FAILED', `cannot write ${file}: ${(cause as Error).message}`, { cause });
  }
}
