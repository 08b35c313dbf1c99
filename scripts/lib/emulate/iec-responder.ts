/**
 * An emulated IEC 62056-21 meter answering mode C readouts on a serial output: the meter side state machine
 * (`meter-responder.ts`) driven by the bytes the gateway writes, with real timers for the reaction times and baud
 * switches. The data message carries the register at the moment it is sent, with the meter's clock (0.9.1/0.9.2).
 */
import { writeDataBlock } from '../../../drivers/iec62056-21/data-writer.ts';
import { MeterResponder } from '../../../drivers/iec62056-21/meter-responder.ts';
import type { LineAction } from '../../../drivers/iec62056-21/protocol.ts';
import { localTimestamp } from './meter-time.ts';
import type { SerialOutput } from './serial-output.ts';

export interface IecResponderOptions {
  out: SerialOutput;
  /** Emulated now. */
  now: () => number;
  /** The register at `t`, for the data message answering the `request`-th request (from 1). */
  registerWh: (t: number, request: number) => number;
  timeZone: string;
  serial: string;
  /** How the identification or data message answering the `request`-th request is written; default at once. */
  pace?: (message: 'identification' | 'data', request: number) => Pace | undefined;
}

/** A slow meter: wait `delayMs`, then write the message in `pieces` pieces `gapMs` apart. */
export interface Pace {
  delayMs?: number;
  pieces?: number;
  gapMs?: number;
}

const SLASH = 0x2f;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function writePaced(out: SerialOutput, bytes: Buffer, pace: Pace = {}): Promise<void> {
  const { delayMs = 0, pieces = 1, gapMs = 0 } = pace;
  const size = Math.ceil(bytes.length / pieces);
  for (let p = 0; p * size < bytes.length; p++) {
    const wait = p === 0 ? delayMs : gapMs;
    if (wait > 0) await sleep(wait);
    await out.write(bytes.subarray(p * size, (p + 1) * size));
  }
}

export function serveModeC(o: IecResponderOptions): { readouts: () => number } {
  let readouts = 0;
  let requests = 0;
  const responder = new MeterResponder({
    // "5": up to 9600 baud in mode C; an upper-case third letter: the standard 200 ms reaction time.
    identification: { manufacturer: 'EMU', baudChar: '5', ident: 'EMULATED-C' },
    readout: () => {
      readouts++;
      // The meter's clock has whole seconds: the register is read at the second it reports.
      const t = Math.floor(o.now() / 1000) * 1000;
      return writeDataBlock(
        [{ obis: '1-0:1.8.0', value: Number((o.registerWh(t, requests) / 1000).toFixed(3)), unit: 'kWh' }],
        { serial: o.serial, time: localTimestamp(t, o.timeZone) },
      );
    },
  });
  let timer: NodeJS.Timeout | undefined;
  let chain = Promise.resolve();
  const run = (actions: LineAction[]) => {
    chain = chain.then(async () => {
      for (const a of actions) {
        if (a.kind === 'write') {
          // The meter writes its identification ("/...") once per request it answers, then the data message.
          const message = a.bytes[0] === SLASH ? 'identification' : 'data';
          if (message === 'identification') requests++;
          await writePaced(o.out, a.bytes, o.pace?.(message, requests));
        } else if (a.kind === 'setBaud') await o.out.setBaudRate(a.baud);
        else {
          clearTimeout(timer);
          timer = setTimeout(() => run(responder.timerFired()), a.ms);
        }
      }
    });
    chain = chain.catch((error: unknown) => console.error(`emulator: ${String(error)}`));
  };
  o.out.onData((chunk) => run(responder.receive(chunk)));
  return { readouts: () => readouts };
}
