/**
 * Remote configuration, contract version 1 (docs/protocol.md §15): an operator's requests, signed by its Ed25519
 * key in an envelope (§3), on `<prefix>/gw/<gatewayId>/config/request`; the gateway's signed reply on
 * `<prefix>/gw/<gatewayId>/config/reply/<id>`.
 */
import { z } from 'zod';

const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);

/** The largest configuration file accepted remotely. */
export const MAX_CONFIG_BYTES = 512 * 1024;

const Base = {
  /** Chosen by the operator: the reply comes on …/config/reply/<id>. */
  id: Id,
  /** The gateway the request is for (refused by any other). */
  gatewayId: Id,
  /** Strictly increasing per gateway (the operator's tool uses milliseconds since 1970): replays are refused. */
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  issuedAt: z.iso.datetime(),
};

export const ConfigGetRequest = z.object({ type: z.literal('config-get'), ...Base }).strict();

/** The whole configuration file, as YAML text; `dryRun` checks and reports without writing or applying. */
export const ConfigSetRequest = z
  .object({
    type: z.literal('config-set'),
    ...Base,
    yaml: z.string().max(MAX_CONFIG_BYTES),
    dryRun: z.boolean().default(false),
  })
  .strict();
export type ConfigSetRequest = z.infer<typeof ConfigSetRequest>;

export const ConfigRequest = z.discriminatedUnion('type', [ConfigGetRequest, ConfigSetRequest]);
export type ConfigRequest = z.infer<typeof ConfigRequest>;

/** What became of a `config-set`. */
export const Applied = z.enum([
  /** Identical to the running configuration: nothing written, nothing changed. */
  'unchanged',
  /** Written and in effect now, without a restart. */
  'live',
  /** Written; in effect at the next restart (the running configuration is unchanged until then). */
  'restart',
  /** A dry run: checked only. */
  'checked',
]);
export type Applied = z.infer<typeof Applied>;

export const ConfigReply = z
  .object({
    v: z.literal(1),
    type: z.literal('config-reply'),
    id: Id,
    ok: z.boolean(),
    code: z.string().optional(),
    message: z.string().max(4000).optional(),
    /** Every problem found, with its configuration path. */
    issues: z
      .array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() }).strict())
      .optional(),
    applied: Applied.optional(),
    /** The configuration paths that differ from the running configuration. */
    changed: z.array(z.string()).optional(),
    /** Of those, the ones that take effect only at a restart. */
    restartRequired: z.array(z.string()).optional(),
    /** config-get: the configuration file as it is on disk. */
    yaml: z.string().optional(),
  })
  .strict();
export type ConfigReply = z.infer<typeof ConfigReply>;
