/**
 * Per-component log levels on a real pino logger: a component can be more verbose or quieter than the default,
 * new levels reach every logger already made, and a silent root (tests, the benchmark) stays silent.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ComponentLoggers } from '../../../gateway/observe/log-levels.ts';

function capture(level: string) {
  const lines: { component: string; level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as never);
      done();
    },
  });
  return { root: pino({ level, base: undefined }, sink), lines };
}

const said = (lines: { component: string; msg: string }[]) => lines.map((l) => `${l.component}:${l.msg}`);

describe('per-component log levels', () => {
  it('applies the default and the per-component levels, and new ones to every logger made', () => {
    const { root, lines } = capture('info');
    const loggers = new ComponentLoggers(root, {
      logLevel: 'info',
      logLevels: { driver: 'debug', uplink: 'warn' },
    });
    const driver = loggers.child('driver', { driver: 'serial:p1' });
    const uplink = loggers.child('uplink');
    const intake = loggers.child('intake');
    for (const l of [driver, uplink, intake]) {
      l.debug('d');
      l.info('i');
      l.warn('w');
    }
    expect(said(lines)).toEqual(['driver:d', 'driver:i', 'driver:w', 'uplink:w', 'intake:i', 'intake:w']);
    // The same component and bindings give the same logger (a restarted driver does not add one).
    expect(loggers.child('driver', { driver: 'serial:p1' })).toBe(driver);

    lines.length = 0;
    loggers.apply({ logLevel: 'warn', logLevels: { uplink: 'debug' } });
    for (const l of [driver, uplink, intake]) {
      l.debug('d');
      l.info('i');
      l.warn('w');
    }
    expect(said(lines)).toEqual(['driver:w', 'uplink:d', 'uplink:i', 'uplink:w', 'intake:w']);
    // A logger made after the change takes the new levels too.
    lines.length = 0;
    loggers.child('batch').info('late');
    loggers.child('uplink', { more: 'x' }).debug('late');
    expect(said(lines)).toEqual(['uplink:late']);
  });

  it('keeps every component silent under a silent root', () => {
    const { root, lines } = capture('silent');
    const loggers = new ComponentLoggers(root, { logLevel: 'info', logLevels: { driver: 'debug' } });
    loggers.child('driver').error('e');
    loggers.apply({ logLevel: 'debug', logLevels: {} });
    loggers.child('intake').error('e');
    root.error('e');
    expect(lines).toEqual([]);
  });
});
