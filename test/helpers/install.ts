/** Runs scripts/install as a technician would, and snapshots a directory tree to show what a run changed. */
import { readdirSync, lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { runCli, type CliRun } from './run-cli.ts';

export const INSTALL_BIN = path.resolve(import.meta.dirname, '../../scripts/install');

export function runInstall(args: string[]): Promise<CliRun> {
  return runCli(INSTALL_BIN, args, 120_000);
}

/** Lines of the output that start with `word` (ok, do, would, skip, warn), without it. */
export function linesOf(output: string, word: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith(`${word} `))
    .map((l) => l.slice(word.length).trim());
}

/** Every entry under `root`: relative path → type, mode, size, modification time and link target. */
export function snapshotTree(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      const s = lstatSync(file);
      const link = s.isSymbolicLink() ? ` -> ${readlinkSync(file)}` : '';
      entries.set(
        path.relative(root, file),
        `${(s.mode & 0o170777).toString(8)} ${s.size} ${s.mtimeMs}${link}`,
      );
      if (s.isDirectory()) walk(file);
    }
  };
  walk(root);
  return entries;
}
