/**
 * Publishes the gateway's health (docs/protocol.md §8a) every `observe.healthSeconds`: signed by the gateway's
 * key like every message it sends, QoS 0 and not retained (the retained status topic says whether the gateway is
 * online; a health message is a reading of the moment, and an old one must not pass for the present). Nothing is
 * queued while the broker is unreachable: the next period brings a fresh one.
 */
import type { SigningIdentity } from '../batch/batcher.ts';
import { signEnvelope } from '../protocol/envelope.ts';
import type { MessageLink } from '../uplink/uplink.ts';
import type { Health } from './health.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

export class HealthPublisher {
  constructor(
    private readonly topic: string,
    private readonly health: Health,
    private readonly link: MessageLink,
    private readonly identity: SigningIdentity,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  publish(): void {
    const body = this.health.snapshot();
    const { message } = signEnvelope(body, this.identity.privateKey, this.identity.publicKey);
    const sent = this.link.publish(this.topic, message, 0);
    this.metrics.inc(sent ? 'health.sent' : 'health.offline');
    this.log.debug(
      { meters: body.meters, batches: body.buffer.batches, bytes: message.length },
      sent ? 'health published' : 'health not published: upstream broker unreachable',
    );
  }
}
