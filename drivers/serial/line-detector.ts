/**
 * Finding a meter's line settings by listening (DSMR `dsmrVersion: auto`). The version a P1 port speaks, and so
 * its speed and character format, is not always what is printed on the meter. The detector tries each candidate
 * in turn for a window; the first under which a frame passes its checks (CRC where the telegram has one) is kept
 * for as long as the port stays open. Wrong settings give bytes no framer accepts: a 7E1 line read as 8N1 turns
 * "/" into 0xAF, a 9600 baud line read at 115200 gives noise. When the port is lost and comes back, detection
 * starts again from the settings that worked.
 */
import type { Logger } from '../../gateway/observe/log.ts';
import type { Metrics } from '../../gateway/observe/metrics.ts';
import type { LineSettings } from './serial-link.ts';

export interface LineDetectorOptions {
  port: string;
  candidates: readonly LineSettings[];
  /** How long each candidate is given to produce a good frame. */
  windowMs: number;
}

export interface LineDetectorDeps {
  /** Reopen the port with these settings. */
  switchTo(line: LineSettings): void;
  metrics: Metrics;
  log: Logger;
}

export const formatLine = (l: LineSettings): string =>
  `${l.baudRate} ${l.dataBits}${l.parity[0]!.toUpperCase()}${l.stopBits}`;

export class LineDetector {
  private index = 0;
  private timer: NodeJS.Timeout | undefined;
  locked = false;

  constructor(
    private readonly opts: LineDetectorOptions,
    private readonly deps: LineDetectorDeps,
  ) {
    if (opts.candidates.length === 0) throw new RangeError('no line settings to try');
  }

  /** The settings to open the port with now. */
  get line(): LineSettings {
    return this.opts.candidates[this.index]!;
  }

  /** The port is open with `line`: give it a window (unless already detected). */
  opened(): void {
    this.clear();
    if (this.locked) return;
    this.timer = setTimeout(() => this.next(), this.opts.windowMs);
    this.timer.unref?.();
  }

  /** The port was lost or closed: detect again when it comes back, starting from the current settings. */
  closed(): void {
    this.clear();
    this.locked = false;
  }

  /** A frame passed its checks under the current settings. */
  confirmed(): void {
    if (this.locked) return;
    this.clear();
    this.locked = true;
    this.deps.metrics.inc('serial.line_detected');
    this.deps.log.info({ port: this.opts.port, line: formatLine(this.line) }, 'line settings detected');
  }

  stop(): void {
    this.clear();
  }

  private next(): void {
    const tried = this.line;
    this.index = (this.index + 1) % this.opts.candidates.length;
    this.deps.metrics.inc('serial.line_switched');
    this.deps.log.info(
      {
        port: this.opts.port,
        tried: formatLine(tried),
        next: formatLine(this.line),
        windowSeconds: this.opts.windowMs / 1000,
      },
      'no good frame under these line settings; trying the next',
    );
    this.deps.switchTo(this.line);
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
