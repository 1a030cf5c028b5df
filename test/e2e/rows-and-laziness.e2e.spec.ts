import { IsNull, Not } from 'typeorm';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/test-app.js';
import { OrgRegions, RegionSeats, regions, Unread } from '../fixtures/regions.fixture.js';

describe('rows from Node, lazy inputs, and the lens on what is written', () => {
  const { t } = useTestApp('rows', (db) => ({
    dataSources: [{ url: db.url, synchronize: true }],
    projections: [OrgRegions, Unread, RegionSeats],
    cinema: { allowEmptyLens: true },
  }));
  const table = async () => t.dataSource().query(`SELECT org_id, region, seats FROM region_seats ORDER BY org_id`);

  beforeEach(async () => {
    regions.rows = [
      { orgId: 1, region: 'eu', seats: 1 },
      { orgId: 2, region: null, seats: 2 },
      { orgId: 3, region: null, seats: 3 },
    ];
    await t.cinema.project(RegionSeats, {});
  });
  it('never queries an input that the derivation does not subscribe to', async () => {
    // The whole run succeeded above although Unread's query names a missing table.
    expect(await table()).toEqual([
      { org_id: 1, region: 'eu', seats: 10 },
      { org_id: 2, region: null, seats: 20 },
      { org_id: 3, region: null, seats: 30 },
    ]);
  });

  it('gives a field a row leaves out its column default, not NULL', async () => {
    const notes = await t.dataSource().query(`SELECT org_id, note FROM region_seats ORDER BY org_id`);
    expect(notes).toEqual([
      { org_id: 1, note: 'first' },
      { org_id: 2, note: 'unset' },
      { org_id: 3, note: 'unset' },
    ]);
  });

  it('writes only inside the slice, even when an input ignores the lens', async () => {
    regions.rows = regions.rows.map((row) => ({ ...row, seats: row.seats + 100 }));
    const rows = await t.cinema.project(RegionSeats, { orgId: 2 });
    expect(rows).toEqual([expect.objectContaining({ orgId: 2, seats: 1020 })]);
    expect(await table()).toEqual([
      { org_id: 1, region: 'eu', seats: 10 },
      { org_id: 2, region: null, seats: 1020 },
      { org_id: 3, region: null, seats: 30 },
    ]);
  });

  it('slices by IsNull() and Not(IsNull())', async () => {
    regions.rows = regions.rows.map((row) => ({ ...row, seats: row.seats + 5 }));
    await t.cinema.project(RegionSeats, { region: IsNull() });
    expect((await table()).map((row: { seats: number }) => row.seats)).toEqual([10, 70, 80]);
    await t.cinema.project(RegionSeats, { region: Not(IsNull()) });
    expect((await table()).map((row: { seats: number }) => row.seats)).toEqual([60, 70, 80]);
  });
});
