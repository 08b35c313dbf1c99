/**
 * The gateway daemon: `npm start -- --config config/gateway.yaml` (or `node dist/gateway/main.js`).
 * Exit codes: 0 stopped by a signal, 1 failed at start, 2 invalid configuration or arguments, 3 the buffer needs an
 * operator (corrupt, or behind its marker: docs/reliability.md), so restarting cannot help.
 * Signals (docs/deploy.md): SIGTERM and SIGINT stop it gracefully; SIGHUP reads the configuration file again
 * (remote/local-reload.ts); a further SIGTERM or SIGINT during the stop is logged and the stop goes on.
 * `--doctor` checks the installation instead (scripts/lib/doctor/): 0 nothing failed, 1 something did.
 * Under systemd (Type=notify) it reports ready, watchdog pings and stopping (observe/systemd-notify.ts).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bufferCorrupt, isCorruption } from './buffer/corruption.ts';
import { ConfigError, loadConfigFile } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { checkBindings, rehomeMeter } from './devices/on-site.ts';
import { requeueQuarantined } from './batch/requeue.ts';
import { checkExponentBits } from './encrypt/randomizers.ts';
import { assertKeyKinds } from './keys/config-keys.ts';
import { loadPaillierPublic } from './keys/paillier-files.ts';
import { Gateway } from './gateway.ts';
import { createLogger } from './observe/log.ts';
import { SystemdNotifier } from './observe/systemd-notify.ts';
import { runCli, UsageError } from '../scripts/lib/cli.ts';

const HELP = `Usage: gateway [--config FILE] [--check | --doctor | --accept-data-loss]
       gateway [--config FILE] rehome METER-ID --reason "…"
       gateway [--config FILE] requeue BATCH-ID|all

  -c, --config FILE   configuration file (default: config/gateway.yaml)
      --check         validate the configuration file and exit (0 valid, 1 unreadable, 2 invalid);
                      each key file it names must hold the right kind of key (a private key where a
                      public one belongs, or the other way round: KEY_KIND_WRONG), and
                      encryption.exponentBits is checked against the supplier key when it is readable;
                      missing keys, TLS files and the replay CSV are reported when the gateway starts
      --doctor        check the installation as the gateway would meet it: configuration, keys and their
                      modes, serial ports, brokers, clock, disk space and the buffer; one line per check
                      with OK, WARN or FAIL and what to do (exit 0 without FAIL, else 1). Run it as the
                      service user: sudo -u meterspace scripts/gateway --config FILE --doctor
                      ("gateway doctor --config FILE" is the same)
      --accept-data-loss
                      start on a buffer that is behind its marker (its WAL lost, the file emptied, replaced
                      or salvaged), which is otherwise refused (exit 3) with what is missing; the loss is
                      logged, recorded in the buffer and shown in the health message, and the gateway
                      continues after what was lost (docs/reliability.md)
      rehome METER    on site only: release the device and source bindings of METER and retire its id, so
                      that its device or source can be configured under a new id (a meter replaced or moved
                      to another neighbourhood); --reason is required, and the step is logged, recorded in
                      the buffer and reported in the health message (docs/fleet.md)
      --reason TEXT   why the meter is re-homed (with rehome)
      requeue BATCH   send a quarantined batch (or all of them) again once its cause is fixed; the doctor
                      lists them (docs/reliability.md §12)
  -h, --help          show this help

Signals: SIGHUP (systemctl reload) reads the configuration file again and applies what can change while
running, or logs why not; SIGTERM and SIGINT stop gracefully (docs/deploy.md §9).`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c', default: 'config/gateway.yaml' },
      check: { type: 'boolean', default: false },
      doctor: { type: 'boolean', default: false },
      'accept-data-loss': { type: 'boolean', default: false },
      reason: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (!values.config) throw new UsageError('--config is required', HELP);
  if (positionals[0] === 'rehome') {
    if (positionals.length !== 2) throw new UsageError('rehome takes one meter id', HELP);
    if (values.reason === undefined) throw new UsageError('rehome needs --reason "…"', HELP);
    const config = loadConfigFile(values.config);
    const log = createLogger({
      level: config.gateway.logLevel,
      ...(config.gateway.logFile ? { file: config.gateway.logFile } : {}),
    });
    const released = rehomeMeter(config, positionals[1]!, values.reason, Date.now(), log);
    process.stdout.write(
      `meter ${positionals[1]} re-homed: ${released} binding(s) released, its id retired; configure its ` +
        'device under a new meter id\n',
    );
    return;
  }
  if (positionals[0] === 'requeue') {
    if (positionals.length !== 2) throw new UsageError('requeue takes one batch id, or "all"', HELP);
    const config = loadConfigFile(values.config);
    const log = createLogger({
      level: config.gateway.logLevel,
      ...(config.gateway.logFile ? { file: config.gateway.logFile } : {}),
    });
    const done = requeueQuarantined(config, positionals[1]!, log);
    process.stdout.write(
      `${done.length} quarantined batch(es) re-queued${done.length ? `: ${done.join(' ')}` : ''}\n`,
    );
    return;
  }
  const doctor = values.doctor || positionals[0] === 'doctor';
  if (positionals.length > (positionals[0] === 'doctor' ? 1 : 0)) {
    throw new UsageError(`unexpected argument: ${positionals.join(' ')}`, HELP);
  }
  if (doctor && values.check) throw new UsageError('--check and --doctor exclude each other', HELP);
  if (doctor) {
    // Loaded only here: the daemon does not carry the doctor's code.
    const { runDoctor } = await import('../scripts/lib/doctor/doctor.ts');
    process.exitCode = await runDoctor(values.config, process.stdout);
    return;
  }
  const config = loadConfigFile(values.config);
  // Before anything else reads a key: a key of the wrong kind is the wrong file, not a start-up failure to retry.
  assertKeyKinds(config, values.config);
  if (values.check) {
    checkBindings(config);
    checkExponentAgainstKey(config, values.config);
    process.stdout.write(
      `${values.config}: valid (${config.meters.length} meters, ${config.neighbourhoods.length} neighbourhoods)\n`,
    );
    return;
  }
  const log = createLogger({
    level: config.gateway.logLevel,
    ...(config.gateway.logFile ? { file: config.gateway.logFile } : {}),
  });
  const gateway = new Gateway({
    config,
    log,
    configFile: values.config,
    acceptDataLoss: values['accept-data-loss'],
  });
  if (values['accept-data-loss']) log.warn('started with --accept-data-loss');
  const notifier = SystemdNotifier.fromEnv(process.env, log.child({ component: 'systemd' }));
  let started = false;
  let stopping = false;
  let repeated = false;
  let reloadWhenStarted = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // Decided (issue #20): a repeated signal does not cut the stop short, which commits what the drivers read,
      // says offline and closes the buffer. SIGKILL (systemd's, after TimeoutStopSec) ends it at once: the
      // buffer survives that, only readings not yet stored are lost.
      if (!repeated) log.warn({ signal }, 'signal received while stopping: the stop goes on');
      repeated = true;
      return;
    }
    stopping = true;
    log.info({ signal }, 'signal received');
    Promise.all([gateway.stop(), notifier?.stopping()]).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: (error as Error).message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  // Without a handler, SIGHUP would kill the process (exit 129) without a graceful stop (issue #20).
  const reload = () => {
    if (stopping) return void log.info({ signal: 'SIGHUP' }, 'signal ignored: the gateway is stopping');
    log.info({ signal: 'SIGHUP' }, 'signal received: reading the configuration file again');
    if (started) void gateway.reload();
    else reloadWhenStarted = true;
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', reload);
  try {
    await gateway.start();
  } catch (error) {
    await gateway.stop().catch(() => undefined);
    // A corrupt page met by any statement of the start: one line with what to do, not a stack trace.
    if (isCorruption(error)) {
      throw bufferCorrupt(path.join(config.gateway.dataDir, config.buffer.file), error);
    }
    throw error;
  }
  started = true;
  notifier?.ready();
  // A SIGHUP during the start: the file may have changed after it was read.
  if (reloadWhenStarted && !stopping) void gateway.reload();
}

/**
 * --check reads no key file, with one exception: a configured encryption.exponentBits is only valid relative to the
 * supplier key's size, so it is checked against that key when the file can be read (at start it always is).
 */
function checkExponentAgainstKey(config: Readonly<Config>, file: string): void {
  if (config.encryption.exponentBits === undefined) return;
  let bits: number;
  try {
    bits = loadPaillierPublic(config.keys.supplierPublic).bits;
  } catch {
    return; // a missing or broken key is reported at start and by the doctor
  }
  try {
    checkExponentBits(config.encryption.exponentBits, bits);
  } catch (error) {
    const message = (error as Error).message.replace(/^encryption\.exponentBits: /, '');
    throw new ConfigError(file, [{ path: 'encryption.exponentBits', message }], 'EXPONENT_TOO_SHORT');
  }
}

runCli(main);
