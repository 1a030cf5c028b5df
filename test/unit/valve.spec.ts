import { describe, expect, it } from 'vitest';
import { Valve } from '../../lib/execution/valve.js';

describe('Valve', () => {
  it('starts open, closes, and calls its listeners each time it opens again', () => {
    const valve = new Valve();
    const calls: string[] = [];
    valve.onOpen(() => calls.push('first'));
    valve.onOpen(() => calls.push('second'));
    expect(valve.open).toBe(true);

    valve.close();
    expect(valve.open).toBe(false);
    expect(calls).toEqual([]);
    valve.release();
    expect(valve.open).toBe(true);
    expect(calls).toEqual(['first', 'second']);

    valve.close();
    valve.release();
    expect(calls).toEqual(['first', 'second', 'first', 'second']);
  });

  it('calls nobody when released while already open', () => {
    const valve = new Valve();
    let calls = 0;
    valve.onOpen(() => calls++);
    valve.release();
    valve.close();
    valve.close();
    valve.release();
    valve.release();
    expect(calls).toBe(1);
  });

  it('stops calling a listener once unsubscribed, even from inside a notification', () => {
    const valve = new Valve();
    const calls: string[] = [];
    const unsubscribeOnce = valve.onOpen(() => {
      calls.push('once');
      unsubscribeOnce();
    });
    const unsubscribeKept = valve.onOpen(() => calls.push('kept'));
    valve.close();
    valve.release();
    valve.close();
    valve.release();
    expect(calls).toEqual(['once', 'kept', 'kept']);
    unsubscribeKept();
    valve.close();
    valve.release();
    expect(calls).toEqual(['once', 'kept', 'kept']);
  });

  it('lets a listener close the valve again (a cursor that fills the next batch at once)', () => {
    const valve = new Valve();
    let opened = 0;
    valve.onOpen(() => {
      opened++;
      valve.close();
    });
    valve.close();
    valve.release();
    expect(opened).toBe(1);
    expect(valve.open).toBe(false);
    valve.release();
    expect(opened).toBe(2);
  });
});
