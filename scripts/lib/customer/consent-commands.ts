/**
 * The household tool's consent commands (docs/customers.md §Consent) and the third party's receiver:
 *
 *   scripts/customer consent grant  --key F --name NAME --grantee-key RAW --granularity hourly --days 30
 *   scripts/customer consent revoke --key F --id CONSENT
 *   scripts/customer consent log    --key F
 *   scripts/customer public-key     --key F          (a third party: what to give the household)
 *   scripts/customer receive        --key F --topic T --gateway-key RAW [--csv]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { z } from 'zod';
import { loadCustomerKeys } from '../../../gateway/customer/customer-key.ts';
import { publicKeyFromRaw } from '../../../gateway/customer/raw-keys.ts';
import { errorCode, GatewayError } from '../../../gateway/errors.ts';
import {
  granteeFingerprint,
  standingConsents,
  verifyConsentChain,
} from '../../../gateway/protocol/consent-chain.ts';
import { Granularity, type ActiveConsent } from '../../../gateway/protocol/customer-messages.ts';
import { UsageError } from '../cli.ts';
import { consentGrantRequest, consentRevokeRequest, meterRequest, openShared } from './client.ts';
import { askEnrolled, connectOptions, type Connection } from './session.ts';
import { SpanAdder } from './span-adder.ts';

export interface ConsentOptions {
  key: string;
  name?: string | undefined;
  'grantee-key'?: string | undefined;
  granularity?: string | undefined;
  until?: string | undefined;
  days?: string | undefined;
  id?: string | undefined;
  timeout: string;
}

export async function consentCommand(
  sub: string | undefined,
  v: ConsentOptions,
  help: string,
): Promise<void> {
  if (sub === 'grant') return grant(v, help);
  if (sub === 'revoke') return revoke(v, help);
  if (sub === 'log') return log(v.key, Number(v.timeout));
  throw new UsageError('consent needs grant, revoke or log', help);
}

const DAY_MS = 86_400_000;

async function grant(v: ConsentOptions, help: string): Promise<void> {
  if (!v.name || !v['grantee-key'])
    throw new UsageError('consent grant needs --name and --grantee-key', help);
  const granularity = Granularity.safeParse(v.granularity ?? 'daily');
  if (!granularity.success) throw new UsageError('--granularity must be interval, hourly or daily', help);
  if (!v.until === !v.days) throw new UsageError('consent grant needs --until ISO or --days N (one)', help);
  const until = v.until ? Date.parse(v.until) : Date.now() + Number(v.days) * DAY_MS;
  if (!Number.isFinite(until))
    throw new UsageError('--until must be an ISO 8601 time, --days a number', help);
  const sealing = v['grantee-key'];
  publicKeyFromRaw(sealing, 'X25519');
  const keys = loadCustomerKeys(v.key);
  const { reply, enrolment } = await askEnrolled(
    v.key,
    (e) =>
      consentGrantRequest({
        gatewayId: e.gateway,
        meterId: e.meter,
        keys,
        grantee: { name: v.name!, sealing },
        granularity: granularity.data,
        until,
        now: Date.now(),
      }),
    Number(v.timeout),
  );
  const c = reply.consent;
  if (!c) throw new GatewayError('MESSAGE_MALFORMED', 'the gateway confirmed no consent');
  console.log(`consent ${c.id}: "${c.grantee}" (key ${c.granteeFingerprint}) receives your readings`);
  console.log(`  ${describe(c)}`);
  console.log('give the third party:');
  // `--option=value`: a raw key may begin with '-', which would read as an option after a space.
  console.log(`  --topic=${c.topic}`);
  console.log(`  --gateway-key=${enrolment.gatewayKey}`);
  console.log(`  --broker=${enrolment.broker}`);
  await log(v.key, Number(v.timeout), true);
}

async function revoke(v: ConsentOptions, help: string): Promise<void> {
  if (!v.id)
    throw new UsageError('consent revoke needs --id (scripts/customer consent log lists them)', help);
  const keys = loadCustomerKeys(v.key);
  await askEnrolled(
    v.key,
    (e) =>
      consentRevokeRequest({
        gatewayId: e.gateway,
        meterId: e.meter,
        keys,
        consentId: v.id!,
        now: Date.now(),
      }),
    Number(v.timeout),
  );
  await log(v.key, Number(v.timeout), true);
  console.log(`consent ${v.id} revoked: its third party receives nothing more`);
}

/** What the tool remembers of the log it last saw, to tell if the gateway ever rewrites it. */
const Seen = z.object({ entries: z.number().int().min(0), head: z.string() }).strict();
/** Where the tool keeps the head of the log it last checked, beside the key file (copied on re-keying). */
export const seenFile = (keyFile: string) => `${keyFile}.consent-log.json`;

/**
 * Reads the log back and checks it (and that it still holds what this tool saw before); prints it unless
 * `quiet` (after a grant or revoke, which record the new head this way).
 */
async function log(keyFile: string, timeoutS: number, quiet = false): Promise<void> {
  const keys = loadCustomerKeys(keyFile);
  const { reply, enrolment } = await askEnrolled(
    keyFile,
    (e) => meterRequest('consents', { gatewayId: e.gateway, meterId: e.meter, keys, now: Date.now() }),
    timeoutS,
  );
  const lines = reply.log ?? [];
  const where = { gatewayId: enrolment.gateway, meterId: enrolment.meter };
  const entries = verifyConsentChain(lines, where);
  const file = seenFile(keyFile);
  if (existsSync(file)) {
    const seen = Seen.parse(JSON.parse(readFileSync(file, 'utf8')));
    if (seen.entries > 0 && lines[seen.entries - 1]?.hash !== seen.head) {
      throw new GatewayError(
        'CONSENT_LOG_INVALID',
        `the gateway's consent log no longer holds the ${seen.entries} entries this tool saw before: it was rewritten`,
      );
    }
  }
  const head = lines.at(-1)?.hash ?? '';
  writeFileSync(file, `${JSON.stringify({ entries: lines.length, head })}\n`, { mode: 0o600 });
  if (quiet) return;
  for (const e of entries) {
    const by =
      e.action !== 'end' && e.signer === keys.publicKeys.signing ? 'this key' : 'an earlier key of yours';
    const what = e.action === 'end' ? `ended by the gateway: ${e.reason}` : `${e.action}, signed by ${by}`;
    console.log(`${String(e.index).padStart(4)}  ${e.at}  ${e.consentId}  ${what}`);
  }
  console.log(
    `chain of ${lines.length} entries checked${lines.length ? `, head ${head.slice(0, 16)}…` : ''}`,
  );
  // What the gateway says is in force (by its clock) must be granted, and neither revoked nor ended, in the log.
  const standing = new Map(
    standingConsents(entries, { ...where, prefix: enrolment.prefix }).map((c) => [c.id, c]),
  );
  const inForce = reply.active ?? [];
  for (const c of inForce) {
    const logged = standing.get(c.id);
    if (
      !logged ||
      logged.until !== c.until ||
      logged.granularity !== c.granularity ||
      logged.topic !== c.topic
    ) {
      throw new GatewayError(
        'CONSENT_LOG_INVALID',
        `the gateway applies consent ${c.id}, which its log does not grant as it says`,
      );
    }
  }
  console.log(inForce.length === 0 ? 'no consent in force' : 'in force:');
  for (const c of inForce) console.log(`  ${c.id}  "${c.grantee}"  ${describe(c)}`);
}

export function describe(c: ActiveConsent): string {
  return `${c.granularity} sums from ${c.from} until ${c.until}`;
}

/** A third party's key, as it gives it to a household. */
export function printPublicKey(keyFile: string): void {
  const { publicKeys } = loadCustomerKeys(keyFile);
  // `--option=value`: a raw key may begin with '-', which would read as an option after a space.
  console.log(`--grantee-key=${publicKeys.sealing}`);
  console.log(`fingerprint:  ${granteeFingerprint(publicKeys.sealing)}`);
}

/** The third party's receiver: opens each slot, adds spans up, prints each complete span. */
export async function receive(v: {
  key: string;
  topic?: string | undefined;
  gatewayKey?: string | undefined;
  broker: string;
  connection: Connection;
  csv: boolean;
  help: string;
}): Promise<void> {
  if (!v.topic || !v.gatewayKey) throw new UsageError('receive needs --topic and --gateway-key', v.help);
  const stream = /\/c\/([0-9a-f]{32})\/shared$/.exec(v.topic)?.[1];
  if (!stream) throw new UsageError(`--topic ${v.topic} is not a shared stream's topic`, v.help);
  const keys = loadCustomerKeys(v.key);
  const gatewayKey = publicKeyFromRaw(v.gatewayKey, 'Ed25519');
  // A persistent session: the broker keeps QoS 1 messages for this receiver while it is away.
  const client = await mqtt.connectAsync(v.broker, {
    // One session per stream and receiving key: two receivers must not take each other's session over.
    ...connectOptions(v.connection, `shared-${stream.slice(0, 12)}-${keys.publicKeys.sealing.slice(0, 12)}`),
    clean: false,
  });
  const adder = new SpanAdder();
  if (v.csv) console.log('granularity,start,end,wh,minutes');
  client.on('message', (_t, payload) => {
    try {
      const sum = adder.add(openShared(payload, gatewayKey, keys.sealingPrivate, stream));
      if (!sum) return;
      // A span some of whose readings never came (or came after it closed) adds up to the readings it had only.
      const spanMinutes = (Date.parse(sum.end) - Date.parse(sum.start)) / 60_000;
      const partial = sum.minutes < spanMinutes ? `only ${sum.minutes} of ${spanMinutes}` : `${sum.minutes}`;
      console.log(
        v.csv
          ? `${sum.granularity},${sum.start},${sum.end},${sum.wh},${sum.minutes}`
          : `${sum.start}  ${sum.end}  ${String(sum.wh).padStart(8)} Wh  (${partial} min with readings)`,
      );
    } catch (error) {
      console.error(`ignored a message that does not open with this key: [${errorCode(error)}]`);
    }
  });
  await client.subscribeAsync(v.topic, { qos: 1 });
  console.error(`waiting for ${v.topic} (Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await client.endAsync();
}
