/**
 * An IEC 62056-21 meter read in protocol mode C on a poll schedule: every `pollMs` the driver runs one readout
 * session (`mode-c-session.ts`: sign-on at 300 baud, identification, baud switch, data message, BCC) over the
 * serial link and hands the verified frame to the meter's series. A failed readout (no answer, bad BCC, cut off)
 * is counted under its code and the next poll tries again; the link reopens a port that disappears.
 */
import { errorCode } from '../../gateway/errors.ts';
import { MeterSeries, seriesDepsOf, type MeterSeriesOptions } from '../common/meter-series.ts';
import type { Driver, DriverContext } from '../driver.ts';
import { SerialLink, type PortOpener, type SerialLinkOptions } from '../serial/serial-link.ts';
import { ModeCSession, type ModeCSessionOptions, type SessionAction } from './mode-c-session.ts';
import { lineSettings, SIGN_ON_BAUD } from './protocol.ts';

export interface ModeCDriverOptions {
  link: Omit<SerialLinkOptions, 'line'>;
  session: ModeCSessionOptions;
  pollMs: number;
  series: MeterSeriesOptions;
}

export class ModeCDriver implements Driver {
  readonly name: string;
  private readonly link: SerialLink;
  private readonly series: MeterSeries;
  private session: ModeCSession | undefined;
  private sessionTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Actions are carried out one after the other (a write must finish before the baud rate changes). */
  private chain: Promise<void> = Promise.resolve();
  private lastFailure: string | undefined;

  constructor(
    private readonly opts: ModeCDriverOptions,
    private readonly ctx: DriverContext,
    open: PortOpener,
  ) {
    this.name = `iec62056-21:${opts.link.name}`;
    this.series = new MeterSeries(opts.series, seriesDepsOf(ctx, opts.series.meterId));
    this.link = new SerialLink(
      { ...opts.link, line: lineSettings(SIGN_ON_BAUD) },
      {
        open,
        onData: (chunk) => {
          const session = this.session;
          if (session) this.run(session, session.receive(chunk));
        },
        onState: (state) => {
          if (state === 'failed') this.endSession();
          // Silent: no answer for three polls. Up again with the next readout that succeeds.
          if (state === 'failed' || state === 'silent') ctx.report.link(opts.series.meterId, false);
        },
        metrics: ctx.metrics,
        log: ctx.log,
      },
    );
  }

  async start(): Promise<void> {
    await this.link.start();
    this.poll();
    this.pollTimer = setInterval(() => this.poll(), this.opts.pollMs);
    this.pollTimer.unref?.();
  }

  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    this.endSession();
    await this.chain;
    await this.link.stop();
  }

  /** Starts a readout unless one is still running or the port is not open. */
  poll(): void {
    if (this.session || (this.link.state !== 'open' && this.link.state !== 'silent')) return;
    let session: ModeCSession;
    try {
      session = new ModeCSession(this.opts.session);
    } catch (error) {
      // The schema validates the address; anything else a session refuses is counted, never thrown from a timer.
      return this.failed(errorCode(error), (error as Error).message);
    }
    this.session = session;
    this.ctx.metrics.inc('driver.iec62056-21.polls');
    // Every readout signs on at 300 baud, whatever the previous one switched to.
    this.chain = this.chain.then(() => this.link.setBaudRate(SIGN_ON_BAUD)).catch(() => undefined);
    this.run(session, session.start());
  }

  /** Carries out a session's actions in order; actions of a session that has ended are dropped. */
  private run(session: ModeCSession, actions: SessionAction[]): void {
    // The session's state has already moved on; a pending timer of its previous state must not fire into the new
    // one while this state's own timer waits in the chain behind a write.
    if (actions.some((a) => a.kind === 'startTimer' || a.kind === 'done' || a.kind === 'fail')) {
      clearTimeout(this.sessionTimer);
    }
    this.chain = this.chain.then(async () => {
      for (const action of actions) {
        if (this.session !== session) return;
        try {
          await this.act(session, action);
        } catch (error) {
          if (this.session === session) this.failed(errorCode(error), (error as Error).message);
          return;
        }
      }
    });
  }

  private async act(session: ModeCSession, action: SessionAction): Promise<void> {
    switch (action.kind) {
      case 'write':
        return this.link.write(action.bytes);
      case 'setBaud':
        return this.link.setBaudRate(action.baud);
      case 'startTimer':
        clearTimeout(this.sessionTimer);
        // The timer belongs to this session: a late one must not fire into the next.
        this.sessionTimer = setTimeout(() => {
          if (this.session === session) this.run(session, session.timerFired());
        }, action.ms);
        return;
      case 'done':
        this.endSession();
        this.ctx.metrics.inc('driver.iec62056-21.frames');
        this.ctx.report.link(this.opts.series.meterId, true);
        if (this.lastFailure)
          this.ctx.log.info({ port: this.opts.link.name }, 'IEC 62056-21 readouts succeed again');
        this.lastFailure = undefined;
        this.series.frame(action.frame, this.ctx.clock.now());
        return;
      case 'fail':
        return this.failed(action.code, action.reason);
    }
  }

  private failed(code: string, reason: string): void {
    this.endSession();
    this.ctx.metrics.inc(`driver.iec62056-21.rejected.${code}`);
    this.ctx.report.rejected(this.opts.series.meterId, code);
    const level = this.lastFailure === code ? 'debug' : 'warn';
    this.lastFailure = code;
    this.ctx.log[level](
      { port: this.opts.link.name, code, reason },
      'IEC 62056-21 readout failed; next poll retries',
    );
  }

  private endSession(): void {
    clearTimeout(this.sessionTimer);
    this.session = undefined;
  }
}
