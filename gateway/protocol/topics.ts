/**
 * The MQTT topics of contract version 1 (docs/protocol.md §Topics). `prefix` defaults to "meterspace/v1".
 */
export const topics = {
  /** gateway → MDMS: signed batches of released records, QoS 1. */
  batch: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/batch`,
  /** MDMS → gateway: signed acknowledgements naming a batch id, QoS 1. */
  ack: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/ack`,
  /** gateway → anyone: retained online/offline status and counters (no readings, no meter ids). */
  status: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/status`,
  /** gateway → operators: signed periodic health with per-meter status (counts, times, codes), QoS 0. */
  health: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/health`,
  /** household → gateway: signed requests (enrolment, …), QoS 1. */
  customerRequest: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/customer/request`,
  /** gateway → households: its request key, signed and retained (requests are sealed to it). */
  customerKey: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/customer/key`,
  /** gateway → household: the signed reply to request `id`. */
  customerReply: (prefix: string, gatewayId: string, id: string) =>
    `${prefix}/gw/${gatewayId}/customer/reply/${id}`,
  /** gateway → household: readings sealed to the household's key, named by its pseudonym, not its meter. */
  customerLive: (prefix: string, pseudonym: string) => `${prefix}/c/${pseudonym}/live`,
  /** gateway → a third party the household consented to: readings sealed to its key, at the granted granularity. */
  customerShared: (prefix: string, stream: string) => `${prefix}/c/${stream}/shared`,
  /** operator → gateway: signed remote configuration requests (get, set), QoS 1. */
  configRequest: (prefix: string, gatewayId: string) => `${prefix}/gw/${gatewayId}/config/request`,
  /** gateway → operator: the signed reply to request `id`. */
  configReply: (prefix: string, gatewayId: string, id: string) =>
    `${prefix}/gw/${gatewayId}/config/reply/${id}`,
  /** What an MDMS subscribes to for every gateway's batches. */
  allBatches: (prefix: string) => `${prefix}/gw/+/batch`,
};

/** The gateway id in a batch topic, or undefined when the topic is not one. */
export function gatewayOfBatchTopic(prefix: string, topic: string): string | undefined {
  const head = `${prefix}/gw/`;
  if (!topic.startsWith(head) || !topic.endsWith('/batch')) return undefined;
  const id = topic.slice(head.length, -'/batch'.length);
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(id) ? id : undefined;
}
