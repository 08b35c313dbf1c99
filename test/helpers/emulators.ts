/**
 * Emulated meters for end-to-end tests: scripts/emulate processes, exactly as a technician runs them, with their
 * output kept for the diagnosis of a failing test and all of them stopped by `stopAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const EMULATE = path.resolve(import.meta.dirname, '../../scripts/emulate');

export class Emulators {
  private readonly running: { child: ChildProcess; out: () => string }[] = [];

  /** Starts `scripts/emulate <args>`. */
  start(args: string[]): void {
    const child = spawn(EMULATE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    this.running.push({ child, out: () => out });
  }

  /** Everything the emulators printed, for a test's diagnosis. */
  output(): string {
    return this.running.map((e) => e.out()).join('\n');
  }

  stopAll(): void {
    for (const e of this.running) e.child.kill('SIGTERM');
  }
}
