/**
 * The doctor's buffer check on real files: a buffer the gateway made is OK; one whose directory or file was opened
 * up to the group or the world (a `cp -r`, a restored backup) is a WARN naming each path and its mode (issue #14 C).
 */
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../gateway/buffer/database.ts';
import { checkBuffer } from '../../scripts/lib/doctor/buffer-check.ts';

describe('doctor: modes of the buffer', () => {
  it('is OK for the buffer as the gateway made it, WARN with each loose path once opened up', () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'doctor-modes-')), 'var');
    const file = path.join(dir, 'buffer.sqlite');
    openDatabase(file, { synchronous: 'NORMAL' }).close();
    expect(checkBuffer(file, 'meterspace').status).toBe('OK');

    chmodSync(dir, 0o755);
    chmodSync(file, 0o644);
    const finding = checkBuffer(file, 'meterspace');
    expect(finding.status).toBe('WARN');
    expect(finding.message).toContain(`${dir} (0755), ${file} (0644)`);
    expect(finding.fix).toContain(`chmod 700 ${dir}`);
  });
});
