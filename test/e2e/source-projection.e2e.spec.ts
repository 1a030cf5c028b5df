import { beforeAll, describe, expect, it } from 'vitest';
import { bootError } from '../support/app.js';
import { useTestApp } from '../support/test-app.js';
import { BigPayments, OrgPaid, OrgShare, Payment } from '../fixtures/source.fixture.js';
import { Entity, PrimaryColumn } from 'typeorm';
import { InvalidProjectionError, Projection } from '../../lib/index.js';

describe("a source projection: derived from the application's tables, with no projection inputs", () => {
  const { db, t } = useTestApp('source', (db) => ({
    dataSources: [{ url: db.url, synchronize: true, entities: [Payment] }],
    projections: [OrgPaid, BigPayments, OrgShare],
    cinema: { allowEmptyLens: true },
  }));
  const truth = (orgs: number[]) =>
    t
      .dataSource()
      .query(
        `SELECT org_id, SUM(amount)::int AS paid, COUNT(*)::int AS payments FROM source_payments WHERE org_id = ANY($1) GROUP BY org_id ORDER BY org_id`,
        [orgs],
      );
  const table = (orgs: number[]) =>
    t.dataSource().query(`SELECT org_id, paid, payments FROM source_org_paid WHERE org_id = ANY($1) ORDER BY org_id`, [orgs]);

  beforeAll(async () => {
    await t
      .dataSource()
      .query(`INSERT INTO source_payments (id, org_id, amount) SELECT i, 1 + i % 4, (i * 37) % 250 FROM generate_series(1, 400) i`);
  });
  it('rebuilds its slice inside PostgreSQL and hands it on to its dependents', async () => {
    const rows = await t.cinema.project(OrgShare, { orgId: 2 }, { async: true });
    await rows.result;
    expect(rows.nodes.map((node) => [node.projection, node.status, node.paths])).toEqual([
      ['OrgPaid', 'succeeded', ['insert-select']],
      ['OrgShare', 'succeeded', ['stream']],
    ]);
    expect(await table([1, 2, 3, 4])).toEqual(await truth([2]));
    const [share] = await t.dataSource().query(`SELECT org_id, average FROM source_org_share`);
    const [paid] = await truth([2]);
    expect(share).toEqual({ org_id: 2, average: (paid.paid / paid.payments).toFixed(2) });
  });

  it("sees the application's writes on the next refresh, only in the lens slice", async () => {
    await t.cinema.project(OrgPaid, {});
    await t.dataSource().query(`UPDATE source_payments SET amount = amount + 1 WHERE org_id IN (1, 3)`);
    await t.cinema.project(OrgPaid, { orgId: 3 });
    expect(await table([3])).toEqual(await truth([3]));
    // Org 1 changed too, but was outside the lens: still the old totals.
    const [stale] = await table([1]);
    const [fresh] = await truth([1]);
    expect(stale.paid).toBe(fresh.paid - fresh.payments);
  });

  it('writes rows a source derivation returns from Node, inside the lens', async () => {
    const rows = await t.cinema.project(BigPayments, { orgId: 4 });
    const [{ n }] = await t.dataSource().query(`SELECT COUNT(*)::int AS n FROM source_payments WHERE org_id = 4 AND amount >= 100`);
    expect(n).toBeGreaterThan(0);
    expect(rows).toHaveLength(n);
    expect(rows.every((row) => row.orgId === 4)).toBe(true);
  });

  it('refuses a materialized projection with neither @Input nor @Source at startup, naming both', async () => {
    @Projection()
    @Entity('source_nothing')
    class Nothing {
      @PrimaryColumn() id: number;
    }
    const error = await bootError({ dataSources: [{ url: db.url, synchronize: false }], projections: [Nothing] });
    expect(error).toBeInstanceOf(InvalidProjectionError);
    expect(error.message).toMatch(/Nothing.*no @Input or @Source method/);
  });
});
