/**
 * The third party's side of a masked stream (gateway/customer/span-masks.ts): collects a span's slots and, once
 * all of them have come, adds them up. The masks cancel only over the whole span, so that sum is all it yields.
 * A slot delivered twice (QoS 1 re-delivery) counts once, also after its span was added up.
 */
import { addMod } from '../../../gateway/customer/span-masks.ts';
import type { OpenedSharedSlot } from './client.ts';

export interface SpanSum {
  granularity: string;
  start: string;
  end: string;
  wh: number;
  /** Minutes of the span with a reading (the others had none, or were outside the consent). */
  minutes: number;
}

export class SpanAdder {
  private readonly open = new Map<string, Map<number, OpenedSharedSlot>>();
  /** Spans already added up: a slot of one delivered again is ignored. */
  private readonly done = new Set<string>();

  /** Adds a slot; returns the span's sum when this slot completes it. */
  add(s: OpenedSharedSlot): SpanSum | undefined {
    const key = `${s.granularity} ${s.start} ${s.end}`;
    if (this.done.has(key)) return undefined;
    let slots = this.open.get(key);
    if (!slots) this.open.set(key, (slots = new Map<number, OpenedSharedSlot>()));
    slots.set(s.slot, s);
    if (slots.size < s.of) return undefined;
    this.open.delete(key);
    this.done.add(key);
    let wh = 0;
    let present = 0;
    for (const slot of slots.values()) {
      wh = addMod(wh, slot.m);
      if (!slot.missing) present++;
    }
    const spanMinutes = (Date.parse(s.end) - Date.parse(s.start)) / 60_000;
    return {
      granularity: s.granularity,
      start: s.start,
      end: s.end,
      wh,
      minutes: Math.round((spanMinutes * present) / s.of),
    };
  }

  /** Spans still waiting for slots. */
  get waiting(): number {
    return this.open.size;
  }
}
