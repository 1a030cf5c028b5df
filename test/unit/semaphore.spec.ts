import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../lib/execution/semaphore.js';
import { settle } from '../support/deferred.js';

/** Acquires without awaiting, recording when the slot is granted or refused. */
function request(semaphore: Semaphore, log: string[], name: string, signal?: AbortSignal) {
  const acquired = semaphore.acquire(signal);
  acquired.then(
    () => log.push(name),
    (reason: unknown) => log.push(`${name} refused: ${String(reason)}`),
  );
  return acquired;
}

describe('Semaphore', () => {
  it('grants up to its size at once, then in the order asked', async () => {
    const semaphore = new Semaphore(2);
    const log: string[] = [];
    const first = await request(semaphore, log, 'a');
    const second = await request(semaphore, log, 'b');
    void request(semaphore, log, 'c');
    void request(semaphore, log, 'd');
    void request(semaphore, log, 'e');
    await settle();
    expect(log).toEqual(['a', 'b']);

    second();
    await settle();
    expect(log).toEqual(['a', 'b', 'c']);
    first();
    await settle();
    expect(log).toEqual(['a', 'b', 'c', 'd']);
  });

  it('hands a released slot straight to the next waiter, not to a later caller', async () => {
    const semaphore = new Semaphore(1);
    const log: string[] = [];
    const release = await request(semaphore, log, 'holder');
    void request(semaphore, log, 'waiter');
    release();
    // Asked after the release, but the waiter was first in line.
    void request(semaphore, log, 'late');
    await settle();
    expect(log).toEqual(['holder', 'waiter']);
  });

  it('takes a waiter out of the line when its signal aborts', async () => {
    const semaphore = new Semaphore(1);
    const log: string[] = [];
    const release = await request(semaphore, log, 'holder');
    const controller = new AbortController();
    const aborted = request(semaphore, log, 'aborted', controller.signal);
    void request(semaphore, log, 'next');
    controller.abort('run timed out');
    await expect(aborted).rejects.toBe('run timed out');
    release();
    await settle();
    // The slot went to the next waiter, not to the one that gave up (which would hold it forever).
    expect(log).toEqual(['holder', 'aborted refused: run timed out', 'next']);
  });

  it('refuses at once when the signal is already aborted and no slot is free', async () => {
    const semaphore = new Semaphore(1);
    const log: string[] = [];
    const release = await request(semaphore, log, 'holder');
    await expect(semaphore.acquire(AbortSignal.abort('gone'))).rejects.toBe('gone');
    release();
    // Nothing of the refused request is left in the line.
    await request(semaphore, log, 'after');
    expect(log).toEqual(['holder', 'after']);
  });

  it('ignores an abort after the slot was granted', async () => {
    const semaphore = new Semaphore(1);
    const controller = new AbortController();
    const release = await semaphore.acquire(controller.signal);
    controller.abort('late');
    const log: string[] = [];
    void request(semaphore, log, 'waiter');
    await settle();
    expect(log).toEqual([]);
    release();
    await settle();
    expect(log).toEqual(['waiter']);
  });

  it('counts a second release of the same slot once', async () => {
    const semaphore = new Semaphore(1);
    const log: string[] = [];
    const release = await request(semaphore, log, 'a');
    release();
    release();
    const again = await request(semaphore, log, 'b');
    void request(semaphore, log, 'c');
    await settle();
    // A double release that counted twice would let c in beside b.
    expect(log).toEqual(['a', 'b']);
    again();
    await settle();
    expect(log).toEqual(['a', 'b', 'c']);
  });

  it('does not let a stale release hand out a slot twice while others wait', async () => {
    const semaphore = new Semaphore(1);
    const log: string[] = [];
    const release = await request(semaphore, log, 'a');
    void request(semaphore, log, 'b');
    void request(semaphore, log, 'c');
    release();
    release();
    await settle();
    expect(log).toEqual(['a', 'b']);
  });
});
