/**
 * A meter that pushes its frames over a serial port (DSMR P1, SML, IEC 62056-21 mode D): link → framer → parser
 * → MeterSeries → intake. A frame that fails its checksum or its structure is counted under its code and
 * dropped; the next good frame is used. The port is reopened by the link when it disappears.
 */
import type { Transform } from 'node:stream';
import { errorCode, type GatewayError } from '../../gateway/errors.ts';
import type { Driver, DriverContext } from '../driver.ts';
import { MeterSeries, seriesDepsOf, type MeterSeriesOptions } from '../common/meter-series.ts';
import { LineDetector } from './line-detector.ts';
import type { PushProtocol } from './push-protocol.ts';
import { SerialLink, type LineSettings, type SerialLinkOptions, type PortOpener } from './serial-link.ts';

export interface PushMeterOptions {
  link: SerialLinkOptions;
  series: MeterSeriesOptions;
  /** Find the line settings by listening: each candidate in turn for `windowMs` (`line-detector.ts`). */
  detect?: { candidates: readonly LineSettings[]; windowMs: number };
}

export class PushMeterDriver implements Driver {
  readonly name: string;
  private readonly link: SerialLink;
  private readonly series: MeterSeries;
  private framer: Transform | undefined;
  private readonly detector: LineDetector | undefined;
  /** Codes already logged at warn level since the last good frame (a noisy line must not flood the log). */
  private readonly warned = new Set<string>();

  constructor(
    private readonly protocol: PushProtocol,
    private readonly opts: PushMeterOptions,
    private readonly ctx: DriverContext,
    open: PortOpener,
  ) {
    this.name = `${protocol.name}:${opts.link.name}`;
    const meterId = opts.series.meterId;
    this.series = new MeterSeries(opts.series, seriesDepsOf(ctx, meterId));
    this.detector =
      opts.detect &&
      new LineDetector(
        { port: opts.link.name, ...opts.detect },
        { switchTo: (line) => void this.link.changeLine(line), metrics: ctx.metrics, log: ctx.log },
      );
    const line = this.detector?.line ?? opts.link.line;
    this.link = new SerialLink(
      { ...opts.link, line },
      {
        open,
        onData: (chunk) => this.framer?.write(chunk),
        onState: (state) => {
          // A reopened port starts with a fresh framer: bytes from before the loss never join bytes after it.
          if (state === 'open' && !this.framer) {
            this.framer = this.newFramer();
            this.detector?.opened();
          }
          if (state === 'failed' || state === 'closed') this.dropFramer();
          if (state === 'failed') this.detector?.closed();
          if (state === 'open' || state === 'failed' || state === 'silent')
            ctx.report.link(meterId, state === 'open');
        },
        metrics: ctx.metrics,
        log: ctx.log,
      },
    );
  }

  async start(): Promise<void> {
    await this.link.start();
  }

  async stop(): Promise<void> {
    this.detector?.stop();
    await this.link.stop();
    this.dropFramer();
  }

  /** The link's state, for status reports. */
  get state() {
    return this.link.state;
  }

  private newFramer(): Transform {
    const { ctx, protocol } = this;
    const framer = protocol.framer((error) => this.rejected(error));
    framer.on('data', (frame: Buffer) => {
      try {
        const parsed = protocol.parse(frame);
        ctx.metrics.inc(`driver.${protocol.name}.frames`);
        this.detector?.confirmed();
        this.warned.clear();
        this.series.frame(parsed, ctx.clock.now());
      } catch (error) {
        this.rejected(error);
      }
    });
    // A framer never throws by contract; an error event would be a bug, counted rather than crashing the gateway.
    framer.on('error', (error) => this.rejected(error));
    return framer;
  }

  private dropFramer(): void {
    this.framer?.removeAllListeners();
    this.framer?.destroy();
    this.framer = undefined;
  }

  private rejected(error: unknown): void {
    const code = errorCode(error);
    this.ctx.metrics.inc(`driver.${this.protocol.name}.rejected.${code}`);
    this.ctx.report.rejected(this.opts.series.meterId, code);
    const level = this.warned.has(code) ? 'debug' : 'warn';
    this.warned.add(code);
    this.ctx.log[level](
      { port: this.opts.link.name, code, reason: (error as GatewayError).message },
      'frame rejected (counted; repeats are logged at debug level until a good frame arrives)',
    );
  }
}
