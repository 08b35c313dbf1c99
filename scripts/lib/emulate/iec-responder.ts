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
  registerWh: (t: number) => number;
  timeZone: string;
  serial: string;
}

export function serveModeC(o: IecResponderOptions): { readouts: () => number } {
  let readouts = 0;
  const responder = new MeterResponder({
    // "5": up to 9600 baud in mode C; an upper-case third letter: the standard 200 ms reaction time.
    identification: { manufacturer: 'EMU', baudChar: '5', ident: 'EMULATED-C' },
    readout: () => {
      readouts++;
      // The meter's clock has whole seconds: the register is read at the second it reports.
      const t = Math.floor(o.now() / 1000) * 1000;
      return writeDataBlock(
        [{ obis: '1-0:1.8.0', value: Number((o.registerWh(t) / 1000).toFixed(3)), unit: 'kWh' }],
        { serial: o.serial, time: localTimestamp(t, o.timeZone) },
      );
    },
  });
  let timer: NodeJS.Timeout | undefined;
  let chain = Promise.resolve();
  const run = (actions: LineAction[]) => {
    chain = chain.then(async () => {
      for (const a of actions) {
        if (a.kind === 'write') await o.out.write(a.bytes);
        else if (a.kind === 'setBaud') await o.out.setBaudRate(a.baud);
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
