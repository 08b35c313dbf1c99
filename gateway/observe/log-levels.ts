/**
 * Per-component log levels (`gateway.logLevels` on top of `gateway.logLevel`). Every component's logger is a
 * child of the one pino logger, made here and remembered, so that a new level reaches each of them at once
 * (remote configuration, issue #6). A pino child has its own level: one component can be more verbose than the
 * root, or quieter.
 */
import type { Logger } from './log.ts';

/** The components a level can be set for: the `component` field of every log line the gateway writes. */
export const LOG_COMPONENTS = [
  'gateway',
  'intake',
  'aggregate',
  'billing',
  'batch',
  'uplink',
  'shared',
  'customer',
  'driver',
  'schedule',
  'config',
  'health',
  'metrics',
] as const;

export type LogComponent = (typeof LOG_COMPONENTS)[number];

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LevelSettings {
  /** The default level (`gateway.logLevel`). */
  logLevel: LogLevel;
  /** Levels of single components (`gateway.logLevels`). */
  logLevels: Partial<Record<LogComponent, LogLevel>>;
}

export class ComponentLoggers {
  /** One child per component and extra bindings (a driver restarted reuses its logger). */
  private readonly made = new Map<string, { logger: Logger; component: LogComponent }>();
  /** A root made silent (tests, the benchmark) keeps every component silent, whatever the configuration says. */
  private readonly muted: boolean;

  constructor(
    private readonly root: Logger,
    private settings: LevelSettings,
  ) {
    this.muted = root.level === 'silent';
  }

  /** The logger of `component` (with `more` bound to every line), at the component's level. */
  child(component: LogComponent, more: Record<string, string> = {}): Logger {
    const key = JSON.stringify([component, more]);
    let entry = this.made.get(key);
    if (!entry) {
      entry = { logger: this.root.child({ component, ...more }), component };
      entry.logger.level = this.levelOf(component);
      this.made.set(key, entry);
    }
    return entry.logger;
  }

  /** Applies new levels to the root and to every component logger made so far. */
  apply(settings: LevelSettings): void {
    this.settings = settings;
    if (this.muted) return;
    this.root.level = settings.logLevel;
    for (const { logger, component } of this.made.values()) logger.level = this.levelOf(component);
  }

  private levelOf(component: LogComponent): LogLevel | 'silent' {
    if (this.muted) return 'silent';
    return this.settings.logLevels[component] ?? this.settings.logLevel;
  }
}
