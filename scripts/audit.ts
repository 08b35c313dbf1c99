/**
 * scripts/audit: an auditor holding the operator key plays the membership attacks of issue #14 against a LIVE
 * gateway (docs/privacy.md "Membership is bound to devices") and prints, per attack, whether it was refused and
 * with which codes. Every attack is sent as a dry run, so a correct gateway changes nothing; if a gateway applies
 * one anyway, audit says FAIL loudly and sends the gateway's own file back to undo it. Exit 1 on any FAIL.
 * `scripts/audit noise` checks the noise of its releases with the supplier's data (lib/audit/noise-command.ts).
 */
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import { GatewayError } from '../gateway/errors.ts';
import { ATTACKS, type RawConfig } from './lib/audit/attacks.ts';
import { auditNoise } from './lib/audit/noise-command.ts';
import { verdictLine, verdictOf, type Verdict } from './lib/audit/verdict.ts';
import { runCli, UsageError } from './lib/cli.ts';
import { exchange, LINK_OPTIONS, linkFrom, type OperatorLink } from './lib/operator/exchange.ts';

const HELP = `Usage: scripts/audit --gateway ID --key FILE --gateway-public FILE [options]
       scripts/audit noise --mdms-db FILE --neighbourhood ID --known CSV --truth CSV [options]
                         the padding attack against the noise of the releases (scripts/audit noise --help)

Plays the membership attacks of issue #14 against a running gateway with the operator's key, each as a signed
dry-run configuration built from the gateway's own file: padding a household with known meters under a new id
(padding), a second id on its source (twin), a second port or bus name for its device (alias), removing its
neighbours (isolate), moving it (move). A correct gateway refuses every one (PRIVACY_FLOOR with the codes of
docs/fleet.md); one line per attack: PASS (refused, with codes), FAIL (not refused), SKIP (does not apply).
Nothing is changed: the attacks are dry runs, and a gateway that applies one anyway gets its own file back.

Options:
  --gateway ID           the gateway's id (gateway.id)
  --key FILE             the operator's Ed25519 private key
  --gateway-public FILE  the gateway's Ed25519 public key (its replies must be signed by it)
  --meter ID             the household meter to target (default: the first meter of the gateway's file)
  --broker URL           MQTT broker (default: mqtt://127.0.0.1:1883)
  --prefix P             topic prefix (default: meterspace/v1)
  --ca FILE              CA certificate of the broker (mqtts://); --username U, --password-file F
  --timeout S            seconds to wait for each reply (default 30)
  -h, --help             show this help

Exit code: 0 every attack refused, 1 an attack not refused (or no reply), 2 usage.`;

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'noise') return auditNoise(argv.slice(1));
  const { values } = parseArgs({
    args: argv,
    options: {
      ...LINK_OPTIONS,
      meter: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  if (!values.gateway || !values.key || !values['gateway-public']) {
    throw new UsageError('--gateway, --key and --gateway-public are required', HELP);
  }
  const link = linkFrom(values);
  const current = await exchange(link, { type: 'config-get' });
  if (!current.ok || current.yaml === undefined) {
    throw new GatewayError(
      'REQUEST_REFUSED',
      `the gateway did not give its file: [${current.code}] ${current.message ?? ''}`,
    );
  }
  const config = parse(current.yaml) as RawConfig;
  const target = values.meter ? config.meters.find((m) => m.id === values.meter) : config.meters[0];
  if (!target) throw new UsageError(`no meter ${values.meter ?? ''} on gateway ${values.gateway}`, HELP);
  console.log(
    `audit of gateway ${values.gateway}, target meter ${target.id} (neighbourhood ${target.neighbourhood})`,
  );
  const verdicts: Verdict[] = [];
  for (const attack of ATTACKS) {
    const next = attack.build(config, target);
    const verdict: Verdict = next
      ? verdictOf(
          attack.name,
          await exchange(link, { type: 'config-set', yaml: stringify(next), dryRun: true }),
        )
      : { attack: attack.name, status: 'SKIP', codes: [], applied: false };
    console.log(verdictLine(verdict, attack.what));
    verdicts.push(verdict);
    if (verdict.applied) await undo(link, current.yaml);
  }
  const failed = verdicts.filter((v) => v.status === 'FAIL');
  if (failed.length > 0) {
    throw new GatewayError(
      'PRIVACY_FLOOR',
      `FAIL: ${failed.length} membership attack(s) not refused (${failed.map((v) => v.attack).join(', ')}): ` +
        'this gateway lets its operator steer who a release is made of',
    );
  }
  console.log(`every applicable attack refused (${verdicts.filter((v) => v.status === 'PASS').length})`);
}

/** A gateway applied an attack: its own file goes back at once, and that is said. */
async function undo(link: OperatorLink, yaml: string): Promise<void> {
  console.error('FAIL: the gateway APPLIED an attack sent as a dry run; sending its previous file back');
  const reply = await exchange(link, { type: 'config-set', yaml, dryRun: false });
  console.error(
    reply.ok ? `  undone (${reply.applied})` : `  NOT undone: [${reply.code}] ${reply.message ?? ''}`,
  );
}

runCli(main);
