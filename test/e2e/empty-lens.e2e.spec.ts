import { Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnregisteredProjectionError } from '../../lib/index.js';
import { CapturingLogger } from '../support/capturing-logger.js';
import { useTestApp } from '../support/test-app.js';
import { A, DagOrgs } from '../fixtures/dag.fixture.js';

describe('the empty lens', () => {
  const { t } = useTestApp('empty_lens', (db) => ({ dataSources: [{ url: db.url, synchronize: true }], projections: [DagOrgs, A] }));
  const logger = new CapturingLogger();

  beforeAll(async () => {
    t.app.useLogger(logger);
    Logger.overrideLogger(logger);
  });
  afterAll(async () => {
    Logger.overrideLogger(['error']);
  });

  it('rebuilds everything, with a warning unless it is allowed', async () => {
    const rows = await t.cinema.project(A);
    expect(rows.map((row) => row.orgId).sort()).toEqual([1, 2, 3]);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toMatch(/Rebuilding a with an empty lens: every row of 1 projection\(s\) is derived again/);
    await t.cinema.project(A, {}, { allowEmptyLens: true });
    await t.cinema.project(A, { orgId: 1 });
    expect(logger.warnings).toHaveLength(1);
  });

  it('keeps runs to look up by id', async () => {
    const run = await t.cinema.project(A, { orgId: 2 }, { async: true });
    expect(t.cinema.getRun(run.id)).toBe(run);
    expect(await run.result).toEqual([expect.objectContaining({ orgId: 2, value: 2 })]);
    expect(t.cinema.getRun(run.id)).toMatchObject({ status: 'succeeded', projection: 'a', lens: { orgId: 2 } });
    expect(t.cinema.getRun('no-such-run')).toBeUndefined();
    expect(JSON.parse(JSON.stringify(run))).toMatchObject({
      id: run.id,
      status: 'succeeded',
      lens: { orgId: 2 },
      nodes: [
        { projection: 'orgs', status: 'succeeded', virtual: true },
        { projection: 'a', status: 'succeeded', deleted: 1, written: 1, paths: ['stream'] },
      ],
    });
  });

  it('refuses a class that is not a registered projection', async () => {
    class Stranger {}
    await expect(t.cinema.project(Stranger, {})).rejects.toBeInstanceOf(UnregisteredProjectionError);
  });
});
