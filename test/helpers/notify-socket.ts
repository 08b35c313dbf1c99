/**
 * A stand-in for systemd's notification socket: a unix datagram socket (Node has none, so a small python3
 * process holds it) that records every message with the time it arrived. Like systemd it drops the file
 * descriptor systemd-notify passes with BARRIER=1, which is what releases systemd-notify's wait. python3 is
 * installed by .ci/run; a missing one is a failure, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface NotifyMessage {
  /** Arrival, ms since the epoch. */
  t: number;
  /** The assignments of one datagram, e.g. ["READY=1", "STATUS=running"]. */
  lines: string[];
}

export interface NotifySocket {
  path: string;
  /** Every message so far, BARRIER=1 left out. */
  messages(): NotifyMessage[];
  close(): Promise<void>;
}

// recv() without room for ancillary data: the kernel closes the passed descriptors, as systemd does.
const RECEIVER = `
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps({"t": time.time() * 1000, "msg": data.decode("utf-8", "replace")}), flush=True)
`;

export async function openNotifySocket(): Promise<NotifySocket> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'notify-')), 'notify.sock');
  const child: ChildProcess = spawn('python3', ['-c', RECEIVER, file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const received: NotifyMessage[] = [];
  const bound = new Promise<void>((resolve, reject) => {
    child.once('error', (e) =>
      reject(new Error(`python3 is needed (apt-get install python3): ${e.message}`)),
    );
    child.once('exit', (code) => reject(new Error(`the notify socket receiver exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { bound?: true; t: number; msg: string };
      if (m.bound) return resolve();
      const lines = m.msg.split('\n').filter((l) => l !== '');
      if (!lines.includes('BARRIER=1')) received.push({ t: m.t, lines });
    });
  });
  await bound;
  return {
    path: file,
    messages: () => [...received],
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Arrival times of the messages that carry `assignment` (e.g. "WATCHDOG=1"). */
export function timesOf(messages: NotifyMessage[], assignment: string): number[] {
  return messages.filter((m) => m.lines.includes(assignment)).map((m) => m.t);
}
