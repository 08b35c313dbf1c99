/**
 * Small real file systems for the disk-full and read-only tests (test/e2e/disk-full.test.ts): a tmpfs of a few
 * MiB that a filler file fills, and an ext4 image on a loop device whose kernel error handling
 * (`errors=remount-ro`, triggered through /sys/fs/ext4/<dev>/trigger_fs_error) turns it read-only under a running
 * process, as an SD card's I/O errors do. Mounting needs root: CI runs as root; anywhere else this fails with a
 * clear message rather than skipping.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SmallMount {
  dir: string;
  /** Unmounts (lazily if busy) and removes what it made; safe to call twice. */
  close(): void;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the disk-full tests mount small file systems and must run as root (CI does)');
}

function unmounter(dir: string, extra: () => void = () => undefined): () => void {
  let closed = false;
  return () => {
    if (closed) return;
    closed = true;
    try {
      run('umount', [dir]);
    } catch {
      run('umount', ['-l', dir]);
    }
    extra();
    rmSync(dir, { recursive: true, force: true });
  };
}

/** A tmpfs of `sizeMiB` mounted on a fresh temporary directory. */
export function mountTmpfs(sizeMiB: number): SmallMount {
  requireRoot();
  const dir = mkdtempSync(path.join(tmpdir(), 'small-tmpfs-'));
  run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir]);
  return { dir, close: unmounter(dir) };
}

/** An ext4 file system of `sizeMiB` in an image file on a loop device, mounted with errors=remount-ro. */
export function mountExt4(sizeMiB: number): SmallMount & {
  /** Makes the kernel take it for damaged: it goes read-only at once (EROFS), as after an SD card's I/O error. */
  failReadOnly(): void;
  /** Unmounts, checks it with e2fsck (returns its exit code and output) and mounts it read-write again. */
  repair(): { code: number; output: string };
} {
  requireRoot();
  const dir = mkdtempSync(path.join(tmpdir(), 'small-ext4-'));
  const image = `${dir}.img`;
  run('truncate', ['-s', `${sizeMiB}M`, image]);
  run('mkfs.ext4', ['-q', '-F', image]);
  const mount = () => run('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
  mount();
  return {
    dir,
    close: unmounter(dir, () => rmSync(image, { force: true })),
    failReadOnly: () => {
      const device = path.basename(run('findmnt', ['-no', 'SOURCE', dir]));
      execFileSync('sh', ['-c', `echo test > /sys/fs/ext4/${device}/trigger_fs_error`]);
    },
    repair: () => {
      run('umount', [dir]);
      let result = { code: 0, output: '' };
      try {
        result.output = run('e2fsck', ['-f', '-y', image]);
      } catch (error) {
        const e = error as { status: number; stdout: string };
        result = { code: e.status, output: e.stdout };
      }
      mount();
      return result;
    },
  };
}

/** Remounts a file system read-only or read-write again (refused while a file on it is open for writing). */
export function remount(dir: string, mode: 'ro' | 'rw'): void {
  run('mount', ['-o', `remount,${mode}`, dir]);
}

/** Writes a file of zeros in `dir` until the file system refuses (ENOSPC); returns its path and size. */
export function fill(dir: string): { file: string; bytes: number } {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'filler');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let bytes = 0;
  try {
    for (;;) bytes += writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  // The last few blocks a partial write may have left.
  try {
    const small = openSync(path.join(dir, 'filler-tail'), 'w');
    try {
      for (;;) writeSync(small, Buffer.alloc(512));
    } catch {
      // ENOSPC: full to the last block.
    } finally {
      closeSync(small);
    }
  } catch {
    // Not even an inode left.
  }
  return { file, bytes };
}

/** Removes what `fill` wrote. */
export function unfill(dir: string): void {
  rmSync(path.join(dir, 'filler'), { force: true });
  rmSync(path.join(dir, 'filler-tail'), { force: true });
}
