/**
 * scripts/operator: remote configuration of a gateway over MQTT (docs/protocol.md §15, docs/fleet.md).
 *
 *   scripts/operator get --gateway ID --key operator.ed25519.key.pem --gateway-public gw.pub.pem [--out F]
 *   scripts/operator set --gateway ID --key … --gateway-public … --file gateway.yaml [--dry-run]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GatewayError } from '../gateway/errors.ts';
import type { ConfigReply } from '../gateway/protocol/operator-messages.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { exchange, LINK_OPTIONS, linkFrom } from './lib/operator/exchange.ts';

const HELP = `Usage: scripts/operator <get|set> [options]

Reads or replaces a gateway's configuration over MQTT, signed with the operator's key (scripts/keygen operator;
the gateway trusts the public half named by keys.operatorPublic in its local file).

Commands:
  get           print the gateway's configuration file (or write it to --out)
  set           send --file as the gateway's new configuration: checked like a local file, refused if it
                lowers the local privacy floor, applied without a restart when it can be (meters,
                neighbourhoods, drivers, k, logging, schedule, retention), else written for the next restart;
                rolled back if it cannot start. --dry-run checks and reports only.

Options:
  --gateway ID           the gateway's id (gateway.id)
  --key FILE             the operator's Ed25519 private key (PKCS#8 PEM, mode 0600)
  --gateway-public FILE  the gateway's Ed25519 public key: its replies must be signed by it
  --broker URL           MQTT broker (default: mqtt://127.0.0.1:1883)
  --prefix P             topic prefix (default: meterspace/v1)
  --ca FILE              CA certificate of the broker (mqtts://); --username U, --password-file F
  --file F               set: the configuration file to send (YAML)
  --out F                get: write the configuration there instead of printing it
  --dry-run              set: check only
  --timeout S            seconds to wait for the reply (default 30)
  -h, --help             show this help

Exit code: 0 done, 1 refused or no reply (the reason is printed), 2 usage.`;

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...LINK_OPTIONS,
      file: { type: 'string' },
      out: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const command = positionals[0];
  if (command !== 'get' && command !== 'set') throw new UsageError('give a command: get or set', HELP);
  if (!values.gateway || !values.key || !values['gateway-public']) {
    throw new UsageError('--gateway, --key and --gateway-public are required', HELP);
  }
  if (command === 'set' && !values.file) throw new UsageError('set needs --file', HELP);
  const reply = await exchange(
    linkFrom(values),
    command === 'get'
      ? { type: 'config-get' }
      : { type: 'config-set', yaml: readFileSync(values.file!, 'utf8'), dryRun: values['dry-run'] },
  );
  report(reply, values.out);
}

function report(reply: ConfigReply, out: string | undefined): void {
  if (!reply.ok) {
    for (const i of reply.issues ?? [])
      console.error(`  - ${i.path || '(root)'}: ${i.code ? `[${i.code}] ` : ''}${i.message}`);
    throw new GatewayError('REQUEST_REFUSED', `the gateway refused: [${reply.code}] ${reply.message ?? ''}`);
  }
  if (reply.yaml !== undefined) {
    if (out) writeFileSync(out, reply.yaml);
    else process.stdout.write(reply.yaml);
    return;
  }
  const changed = reply.changed ?? [];
  const restart = reply.restartRequired ?? [];
  const what = {
    unchanged: 'identical to the running configuration: nothing changed',
    live: 'applied, without a restart',
    restart: 'written; takes effect at the next restart of the gateway',
    checked: 'valid (dry run: nothing written)',
  }[reply.applied ?? 'checked'];
  console.log(what);
  for (const p of changed) console.log(`  ${restart.includes(p) ? 'restart' : 'live   '}  ${p}`);
}

runCli(main);
