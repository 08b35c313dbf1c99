/** What `scripts/audit` makes of a gateway's reply to one attack sent as a dry run. */
import type { ConfigReply } from '../../../gateway/protocol/operator-messages.ts';

export interface Verdict {
  attack: string;
  /** PASS: refused; FAIL: the gateway would apply it (or did); SKIP: the attack does not apply here. */
  status: 'PASS' | 'FAIL' | 'SKIP';
  /** The reply's code and its issues' codes, in order, each once. */
  codes: string[];
  /** The gateway wrote or applied the configuration although it was sent as a dry run. */
  applied: boolean;
}

export function verdictOf(attack: string, reply: ConfigReply): Verdict {
  if (!reply.ok) {
    const codes = [reply.code ?? 'REFUSED', ...(reply.issues ?? []).flatMap((i) => (i.code ? [i.code] : []))];
    return { attack, status: 'PASS', codes: [...new Set(codes)], applied: false };
  }
  return {
    attack,
    status: 'FAIL',
    codes: [],
    applied: reply.applied === 'live' || reply.applied === 'restart',
  };
}

export function verdictLine(v: Verdict, what: string): string {
  if (v.status === 'SKIP') return `SKIP  ${v.attack.padEnd(8)} does not apply to this meter`;
  if (v.status === 'PASS') return `PASS  ${v.attack.padEnd(8)} refused [${v.codes.join(', ')}]`;
  return `FAIL  ${v.attack.padEnd(8)} NOT REFUSED${v.applied ? ' AND APPLIED' : ' (a dry run passed)'}: ${what}`;
}
