import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeStaleTemps, writeFileAtomic } from '../../../gateway/remote/atomic-file.ts';

describe('atomic file replacement', () => {
  it('replaces the text, keeps the mode and leaves no temporary file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'atomic-'));
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, 'old\n', { mode: 0o640 });
    writeFileAtomic(file, 'new\n');
    expect(readFileSync(file, 'utf8')).toBe('new\n');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['gateway.yaml']);
  });

  it('removes at start what a process killed between the write and the rename left, and nothing else', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'atomic-'));
    const file = path.join(dir, 'gateway.yaml');
    const keep = [
      'gateway.yaml',
      '.gateway.yaml.tmp',
      '.other.yaml.123.tmp',
      '.gateway.yaml.12x.tmp',
      'a.tmp',
    ];
    const stale = ['.gateway.yaml.123.tmp', '.gateway.yaml.4567.tmp'];
    for (const name of [...keep, ...stale]) writeFileSync(path.join(dir, name), 'half a fi');
    expect(removeStaleTemps(file).sort()).toEqual(stale);
    expect(readdirSync(dir).sort()).toEqual([...keep].sort());
    expect(removeStaleTemps(path.join(dir, 'missing-dir', 'gateway.yaml'))).toEqual([]);
  });
});
