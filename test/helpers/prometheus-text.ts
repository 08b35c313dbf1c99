/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/
 * exposition_formats), written from the format's description rather than from the gateway's renderer: it throws
 * on anything a Prometheus server would refuse or that the format forbids (bad names, bad escapes, a TYPE after
 * its samples or given twice, a family's samples not together, the same series twice, a value that is no number).
 */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  type: string;
  help: string | undefined;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)$/;

export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  if (text.length > 0 && !text.endsWith('\n'))
    throw new Error('the exposition does not end with a line feed');
  const families = new Map<string, MetricFamily>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: string | undefined;
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type: 'untyped', help: undefined, samples: [] }));
    return f;
  };
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1} "${line}"`;
    if (line.trim() === '') return;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta as unknown as [string, string, string, string?];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      const f = family(name);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type`);
        if (f.samples.length > 0 || f.type !== 'untyped')
          throw new Error(`${where}: TYPE twice or after samples`);
        f.type = rest;
      } else {
        if (f.help !== undefined) throw new Error(`${where}: HELP twice`);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        f.help = rest.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      }
      return;
    }
    if (line.startsWith('#')) return;
    const { name, labels, rest } = splitSample(line, where);
    const parts = rest.trim().split(/\s+/);
    if (parts.length < 1 || parts.length > 2 || !FLOAT.test(parts[0]!))
      throw new Error(`${where}: bad value`);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp`);
    if (name !== current) {
      if (closed.has(name)) throw new Error(`${where}: samples of ${name} are not together`);
      if (current) closed.add(current);
      current = name;
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: the same series twice`);
    seen.add(key);
    family(name).samples.push({ labels, value: Number(parts[0]!.replace('Inf', 'Infinity')) });
  });
  return families;
}

function splitSample(
  line: string,
  where: string,
): { name: string; labels: Record<string, string>; rest: string } {
  const m = /^([^\s{]+)/.exec(line);
  const name = m?.[1] ?? '';
  if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const lm = /^\s*([^=\s]+)\s*=\s*"/.exec(line.slice(i));
      if (!lm) throw new Error(`${where}: bad label`);
      const label = lm[1]!;
      if (!LABEL_NAME.test(label) || label.startsWith('__')) throw new Error(`${where}: bad label name`);
      if (label in labels) throw new Error(`${where}: label ${label} twice`);
      i += lm[0].length;
      let value = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`${where}: unterminated label value`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else throw new Error(`${where}: bad escape in label value`);
        } else value += c;
      }
      labels[label] = value;
      const sep = /^\s*(,?)\s*/.exec(line.slice(i))!;
      i += sep[0].length;
      if (!sep[1] && line[i] !== '}') throw new Error(`${where}: labels not separated by commas`);
    }
    i++;
  }
  if (line[i] !== ' ' && line[i] !== '\t') throw new Error(`${where}: no space before the value`);
  return { name, labels, rest: line.slice(i) };
}

/** The one sample of `name` whose labels include `labels`; throws when there is none or several. */
export function sampleOf(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = (families.get(name)?.samples ?? []).filter((s) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}
