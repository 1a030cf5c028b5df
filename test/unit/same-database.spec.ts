import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { sameDatabase } from '../../lib/dialect/postgres/sql.js';

const source = (options: Record<string, unknown>) => new DataSource({ type: 'postgres', ...options } as never);

describe('sameDatabase', () => {
  it('tells when one statement can read through one data source and write through the other', () => {
    const primary = source({ url: 'postgres://u@db.internal:5432/app' });
    expect(sameDatabase(primary, primary)).toBe(true);
    expect(sameDatabase(primary, source({ url: 'postgres://other@db.internal/app' }))).toBe(true);
    expect(sameDatabase(primary, source({ host: 'db.internal', database: 'app' }))).toBe(true);
    expect(sameDatabase(primary, source({ url: 'postgres://u@db.internal:5432/reporting' }))).toBe(false);
    expect(sameDatabase(primary, source({ url: 'postgres://u@replica.internal:5432/app' }))).toBe(false);
    // A replicated data source writes to its master.
    const replicated = source({
      replication: { master: { url: 'postgres://u@db.internal/app' }, slaves: [{ url: 'postgres://u@replica.internal/app' }] },
    });
    expect(sameDatabase(primary, replicated)).toBe(true);
    const otherReplicated = source({ replication: { master: { host: 'elsewhere', database: 'app' }, slaves: [] } });
    expect(sameDatabase(replicated, otherReplicated)).toBe(false);
    // Nothing to compare: only the same object counts.
    expect(sameDatabase(source({}), source({}))).toBe(false);
  });
});
