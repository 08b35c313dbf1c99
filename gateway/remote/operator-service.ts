/**
 * Remote configuration (docs/protocol.md §15): an operator's signed `config-get` and `config-set` requests.
 * A set is checked exactly as the local file would be (the same schema and rules), against the local privacy
 * floor (privacy-floor.ts), and compared with the running configuration: identical changes nothing; changes the
 * gateway can apply while running are written atomically and applied at once, and if they cannot start (a
 * serial port that does not exist, …) the previous file and configuration are restored and the reply says why;
 * changes that need a restart are written and reported as such. Requests are handled one at a time.
 */
import type { KeyObject } from 'node:crypto';
import path from 'node:path';
import { ConfigError, loadConfigText, readConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { errorCode, GatewayError } from '../errors.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import { openEnvelope, signEnvelope } from '../protocol/envelope.ts';
import {
  ConfigRequest,
  MAX_CONFIG_BYTES,
  type ConfigReply,
  type ConfigSetRequest,
} from '../protocol/operator-messages.ts';
import { topics } from '../protocol/topics.ts';
import type { Clock } from '../time/clock.ts';
import type { MessageLink } from '../uplink/uplink.ts';
import { TokenBucket } from '../customer/token-bucket.ts';
import { writeFileAtomic } from './atomic-file.ts';
import { changedPaths, classify } from './config-diff.ts';
import { floorViolations, type DeviceView } from './privacy-floor.ts';

/** How far ahead of the gateway's clock a request's sequence number (milliseconds) may be. */
const MAX_SEQ_AHEAD_MS = 10 * 60_000;
const LAST_SEQ = 'operator.last_seq';

/** What the gateway offers the service: its running configuration and a way to apply a new one live. */
export interface ConfigTarget {
  running(): Readonly<Config>;
  /** Checks what must hold before `next` is written (devices, brokers); throws a coded error otherwise. */
  preflight(next: Readonly<Config>, live: boolean): Promise<void>;
  /** Applies a configuration whose changes are all live ones; on failure restores the running one and throws. */
  apply(next: Readonly<Config>): Promise<void>;
  /** What the gateway has bound, for the membership rules (issue #14 A); absent: the file's rules alone. */
  devices?(): DeviceView | undefined;
  /** Records the meters a command adds, before its file is written (a Modbus one is held for its serial). */
  recordAdded?(running: Readonly<Config>, next: Readonly<Config>): void;
  /** Retires the meter and neighbourhood ids a command removed, once it is written: never reused. */
  retireRemoved?(running: Readonly<Config>, next: Readonly<Config>): void;
  /** Runs one change at a time (a remote command and a SIGHUP reload, local-reload.ts); absent: as it comes. */
  exclusive?<T>(work: () => Promise<T>): Promise<T>;
}

export interface OperatorServiceOptions {
  gatewayId: string;
  prefix: string;
  /** The configuration file the gateway was started with (written by a set). */
  configFile: string;
}

type ReplyFields = Omit<ConfigReply, 'v' | 'type' | 'id'>;

export class OperatorService {
  private queue: Promise<void> = Promise.resolve();
  private readonly refusals: TokenBucket;

  constructor(
    private readonly opts: OperatorServiceOptions,
    private readonly operatorKey: KeyObject,
    private readonly identity: { privateKey: KeyObject; publicKey: KeyObject },
    private readonly target: ConfigTarget,
    private readonly seqStore: {
      get(key: string): string | undefined;
      set(key: string, value: string): void;
    },
    private readonly link: MessageLink,
    private readonly wall: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.refusals = new TokenBucket(5, 20, () => wall.now());
  }

  start(): void {
    this.link.route(topics.configRequest(this.opts.prefix, this.opts.gatewayId), (payload) => {
      // A request that fails in an unforeseen way must not stop the ones after it.
      const handle = () => this.onRequest(payload);
      this.queue = this.queue
        .then(() => (this.target.exclusive ? this.target.exclusive(handle) : handle()))
        .catch((error: unknown) => {
          this.metrics.inc(`config.handler_failed.${errorCode(error)}`);
          this.log.error({ code: errorCode(error) }, 'remote configuration request failed');
        });
    });
  }

  /** Resolves once every request received so far has been handled (for a clean stop). */
  idle(): Promise<void> {
    return this.queue;
  }

  private async onRequest(payload: Buffer): Promise<void> {
    let id: string | undefined;
    try {
      if (payload.length > MAX_CONFIG_BYTES * 2) {
        throw new GatewayError('MESSAGE_MALFORMED', `request of ${payload.length} bytes is too large`);
      }
      id = unverifiedId(payload);
      const request = this.authenticate(payload);
      id = request.id;
      if (request.type === 'config-get') {
        this.metrics.inc('config.get');
        return this.reply(id, { ok: true, yaml: readConfigFile(this.opts.configFile) });
      }
      this.reply(id, await this.set(request));
    } catch (error) {
      const code = errorCode(error);
      this.metrics.inc(`config.rejected.${code}`);
      this.log.warn({ code, reason: (error as Error).message }, 'remote configuration refused');
      if (!id) return;
      if (!this.refusals.take()) return void this.metrics.inc('config.refusals_unanswered');
      const issues = error instanceof ConfigError ? error.issues : undefined;
      this.reply(id, {
        ok: false,
        code: error instanceof GatewayError ? code : 'INTERNAL',
        message: error instanceof GatewayError ? error.message.slice(0, 4000) : 'the gateway could not do it',
        ...(issues ? { issues } : {}),
      });
    }
  }

  /** The operator's signature, the gateway named, and a sequence number never seen; records the number. */
  private authenticate(payload: Buffer): ConfigRequest {
    if (!/"sig"\s*:/.test(payload.toString('utf8'))) {
      throw new GatewayError('SIGNATURE_MISSING', 'remote configuration must be signed by the operator key');
    }
    const { body } = openEnvelope(payload, this.operatorKey);
    const parsed = ConfigRequest.safeParse(body);
    if (!parsed.success) throw new GatewayError('MESSAGE_MALFORMED', 'not a v1 configuration request');
    const r = parsed.data;
    if (r.gatewayId !== this.opts.gatewayId) {
      throw new GatewayError('REQUEST_REFUSED', `request is for gateway "${r.gatewayId}"`);
    }
    if (r.seq > this.wall.now() + MAX_SEQ_AHEAD_MS) {
      throw new GatewayError(
        'REQUEST_REFUSED',
        "sequence number ahead of the gateway's clock: check the clocks",
      );
    }
    const last = Number(this.seqStore.get(LAST_SEQ) ?? '0');
    if (r.seq <= last)
      throw new GatewayError('REQUEST_REPLAYED', `sequence number ${r.seq} not above ${last}`);
    this.seqStore.set(LAST_SEQ, String(r.seq));
    return r;
  }

  private async set(r: ConfigSetRequest): Promise<ReplyFields> {
    const file = this.opts.configFile;
    const next = loadConfigText(r.yaml, 'remote configuration', path.dirname(path.resolve(file)));
    const running = this.target.running();
    const floor = floorViolations(running, next, this.target.devices?.());
    if (floor.length > 0) {
      throw new ConfigError('remote configuration', floor, 'PRIVACY_FLOOR');
    }
    const changed = changedPaths(running, next);
    if (changed.length === 0) {
      this.metrics.inc('config.unchanged');
      return { ok: true, applied: 'unchanged', changed: [] };
    }
    const { live, restart } = classify(changed);
    try {
      await this.target.preflight(next, restart.length === 0);
    } catch (error) {
      throw rolledBack(error);
    }
    if (r.dryRun) return { ok: true, applied: 'checked', changed, restartRequired: restart };
    const previous = readConfigFile(file);
    this.target.recordAdded?.(running, next);
    writeFileAtomic(file, r.yaml);
    if (restart.length > 0) {
      this.target.retireRemoved?.(running, next);
      this.metrics.inc('config.written_for_restart');
      this.log.warn(
        { changed, restartRequired: restart },
        'configuration written; it takes effect at the next restart',
      );
      return { ok: true, applied: 'restart', changed, restartRequired: restart };
    }
    try {
      await this.target.apply(next);
    } catch (error) {
      try {
        writeFileAtomic(file, previous);
      } catch (again) {
        this.log.error({ code: errorCode(again) }, 'the previous configuration file could not be restored');
        throw new GatewayError(
          'CONFIG_ROLLED_BACK',
          `the new configuration could not start ([${errorCode(error)}] ${(error as Error).message}) and the ` +
            `previous file could not be written back ([${errorCode(again)}] ${(again as Error).message}): the ` +
            'running configuration is the previous one, the file on disk is the new one',
          { cause: error },
        );
      }
      this.metrics.inc('config.rolled_back');
      this.log.error({ changed, code: errorCode(error) }, 'new configuration could not start: rolled back');
      throw rolledBack(error);
    }
    this.target.retireRemoved?.(running, next);
    this.metrics.inc('config.applied');
    this.log.info({ changed: live }, 'remote configuration applied');
    return { ok: true, applied: 'live', changed, restartRequired: [] };
  }

  private reply(id: string, fields: ReplyFields): void {
    const body: ConfigReply = { v: 1, type: 'config-reply', id, ...fields };
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    this.link.publish(topics.configReply(this.opts.prefix, this.opts.gatewayId, id), message, 1);
  }
}

/** The running configuration stays (or is back): the reply names the cause. */
function rolledBack(error: unknown): GatewayError {
  return new GatewayError(
    'CONFIG_ROLLED_BACK',
    `the new configuration could not start; the previous one stays: [${errorCode(error)}] ${(error as Error).message}`,
    { cause: error },
  );
}

/** The request id of a message not yet verified, to address the refusal to (nothing else is trusted from it). */
function unverifiedId(payload: Buffer): string | undefined {
  try {
    const outer = JSON.parse(payload.toString('utf8')) as { body?: unknown; id?: unknown };
    const inner = typeof outer.body === 'string' ? (JSON.parse(outer.body) as { id?: unknown }) : outer;
    const id = inner.id;
    return typeof id === 'string' && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
