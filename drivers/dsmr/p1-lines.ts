/**
 * The data lines of a P1 telegram as objects: "OBIS(v1)(v2)…" (P1 5.0.2 §6.9–6.11), where a line that starts
 * with "(" continues the object of the line before it (the DSMR 2.2/3.0 gas profile puts its value on the next
 * line, P1 3.0 §5.10/§5.12). Only the grammar is checked here; what the values mean is the parser's business.
 */
import { GatewayError } from '../../gateway/errors.ts';
import { formatObis, parseObis, type ObisCode } from '../common/obis.ts';

export interface P1Object {
  code: ObisCode;
  /** Normalised OBIS code. */
  obis: string;
  /** The text inside each pair of parentheses, in order. */
  groups: string[];
}

/** Printable ASCII: text messages are hex-encoded and may not contain CR LF (P1 3.0 §6.2). */
const PRINTABLE = /^[\x20-\x7e]*$/;
const GROUP = /\(([^()]*)\)/y;

/**
 * Reads `lines` (line ends removed; index 0 is the header, which is skipped). Empty lines are ignored.
 * Throws FRAME_MALFORMED naming the line number, never its content (it may hold a reading).
 */
export function readObjects(lines: readonly string[]): P1Object[] {
  const objects: P1Object[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `telegram line ${i + 1}`;
    if (line === '') continue;
    if (!PRINTABLE.test(line)) throw malformed(`${where} has a control or non-ASCII character`);
    const open = line.indexOf('(');
    if (open === 0) {
      const last = objects.at(-1);
      if (!last) throw malformed(`${where} continues no object`);
      last.groups.push(...groupsOf(line, where));
      continue;
    }
    const code = open > 0 ? parseObis(line.slice(0, open)) : undefined;
    if (!code) throw malformed(`${where} is not an OBIS object`);
    objects.push({ code, obis: formatObis(code), groups: groupsOf(line.slice(open), where) });
  }
  return objects;
}

/** The contents of "(a)(b)…", which must make up all of `text`. */
function groupsOf(text: string, where: string): string[] {
  const groups: string[] = [];
  GROUP.lastIndex = 0;
  while (GROUP.lastIndex < text.length) {
    const m = GROUP.exec(text);
    if (!m) throw malformed(`${where} has unbalanced parentheses or text outside them`);
    groups.push(m[1]!);
  }
  return groups;
}

function malformed(message: string): GatewayError {
  return new GatewayError('FRAME_MALFORMED', message);
}
