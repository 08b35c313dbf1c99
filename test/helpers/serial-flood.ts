/**
 * A serial port spewing bytes at full speed, for the serial fault tests: a separate Node process (the event loop
 * under test is not the one writing) writes 64 KiB blocks into the meter's end of a pty pair with blocking writes,
 * so it goes exactly as fast as the pty and the reader take them, phase after phase for `seconds` in all (at least one block each). Each
 * phase is a block repeated: random bytes, or a pattern (frame starts without an end). `stop` kills it.
 */
import { spawn } from 'node:child_process';

export interface Flood {
  /** Bytes written, once the writer has finished. */
  done: Promise<number>;
  stop(): Promise<void>;
}

const BLOCK = 64 * 1024;

/** Random bytes, `pattern` repeated, or `pattern` once followed by `filler` bytes: 64 KiB blocks of it. */
export type FloodPhase = 'random' | { pattern: Buffer; filler?: number };

// Runs in the child: argv = device, seconds, then per phase "random" or "pattern-hex[:filler]".
const WRITER = `
const fs = require('node:fs');
const { randomBytes } = require('node:crypto');
const [device, seconds, ...phases] = process.argv.slice(1);
const fd = fs.openSync(device, 'w');
const started = Date.now();
const perPhase = (Number(seconds) * 1000) / phases.length;
let total = 0;
phases.forEach((phase, i) => {
  const until = started + perPhase * (i + 1);
  const [hex, filler] = phase.split(':');
  let fixed;
  if (phase !== 'random') {
    const pattern = Buffer.from(hex, 'hex');
    fixed = Buffer.alloc(${BLOCK}, filler === undefined ? 0 : Number(filler));
    for (let at = 0; at < fixed.length; at += filler === undefined ? pattern.length : fixed.length)
      pattern.copy(fixed, at);
  }
  // At least one block per phase, however long the blocking writes of the phase before took.
  do {
    const block = fixed ?? randomBytes(${BLOCK});
    let at = 0;
    while (at < block.length) at += fs.writeSync(fd, block, at);
    total += block.length;
  } while (Date.now() < until);
});
process.stdout.write(String(total));
`;

export function startFlood(device: string, phases: FloodPhase[], seconds: number): Flood {
  const args = phases.map((p) =>
    p === 'random' ? p : p.pattern.toString('hex') + (p.filler === undefined ? '' : `:${p.filler}`),
  );
  const child = spawn(process.execPath, ['-e', WRITER, device, String(seconds), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const done = exited.then(() => {
    if (child.exitCode !== 0) throw new Error(`flood writer failed (${child.exitCode}): ${err}`);
    return Number(out);
  });
  done.catch(() => undefined); // awaited by the test; a kill at cleanup must not become an unhandled rejection
  return {
    done,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
