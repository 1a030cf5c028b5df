import type { DataSource } from 'typeorm';
import { Semaphore } from './semaphore.js';

/**
 * Bounds the write transactions this process holds per data source, across runs and engines:
 * by default half the pool, so that a projection streaming from the same pool always gets the
 * read connection it needs.
 */
export class WriteSlots {
  private readonly slots = new Map<DataSource, Semaphore>();

  constructor(private readonly configured?: number) {}

  of(dataSource: DataSource): Semaphore {
    let semaphore = this.slots.get(dataSource);
    if (!semaphore) {
      semaphore = new Semaphore(this.configured ?? Math.max(1, Math.floor(poolSize(dataSource) / 2)));
      this.slots.set(dataSource, semaphore);
    }
    return semaphore;
  }
}

function poolSize(dataSource: DataSource): number {
  const options = dataSource.options as { poolSize?: number; extra?: { max?: number } };
  return options.poolSize ?? options.extra?.max ?? 10;
}
