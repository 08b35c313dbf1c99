/**
 * Replacing a file so that a power cut at any moment leaves either the old or the new file, never half of one:
 * the new text goes to a temporary file beside it (same directory, same file system), is fsynced, renamed over
 * the old one, and the directory is fsynced so the rename itself is durable. The file keeps its mode.
 */
import { closeSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.ts';

export function writeFileAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
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
