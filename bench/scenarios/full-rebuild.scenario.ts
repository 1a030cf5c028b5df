import type { DataSource } from 'typeorm';
import type { CinemaService } from '../../lib/index.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { find, measure, pair, scenarioResult, target, type Contender } from '../harness.js';
import {
  FULL_SQL,
  FULL_TRUNCATE_SQL,
  REFRESH_ACCOUNTS_RECEIVABLE,
  REFRESH_ACCOUNTS_RECEIVABLE_CONCURRENTLY,
  REFRESH_ORG_RECEIVABLES,
  REFRESH_ORG_RECEIVABLES_CONCURRENTLY,
  fingerprintSql,
} from '../fixtures/receivables.queries.js';
import type { Scenario } from '../scenario.interface.js';

const DEFINITION = `Everything rebuilt (empty lens): \`AccountsReceivable\` (one row per account), then
\`OrgReceivables\` (one row per org and day, reading \`AccountsReceivable\`).

- **cinema**: \`cinema.project(OrgReceivables, {}, { allowEmptyLens: true, fetch: false })\`: it
  rebuilds its input \`AccountsReceivable\` first, each table in its own transaction.
- **hand-sql**: one transaction: \`DELETE FROM accounts_receivable; INSERT ... SELECT; DELETE FROM
  org_receivables; INSERT ... SELECT\`.
- **refresh** / **refresh-concurrently**: \`REFRESH MATERIALIZED VIEW [CONCURRENTLY]\` of the two
  equivalent views, the second defined over the first, refreshed in that order.
- **hand-sql-truncate** (for reference): the hand-written script with \`TRUNCATE\` instead of
  \`DELETE\`. \`TRUNCATE\` locks readers out until commit, which Cinema promises never to do.

\`VACUUM\` of the four relations runs, untimed, before every contender: every run starts from a
table whose dead rows were cleaned, as autovacuum would between nightly rebuilds.`;

const VACUUM = `VACUUM accounts_receivable, org_receivables, accounts_receivable_mv, org_receivables_mv`;

/** Scenario 2: a full rebuild of the sample graph against the same by hand and REFRESH MATERIALIZED VIEW. */
export const fullRebuildScenario: Scenario = {
  id: 'full-rebuild',
  title: '2. Full rebuild of the sample graph',
  usesBillingApp: true,
  async run(ctx) {
    const began = performance.now();
    const { cinema, dataSource } = await ctx.billing();
    const { rounds, warmups } = ctx.rounds({ full: 7, quick: 5 });
    const rebuild = async () => void (await cinema.project(OrgReceivables, {}, { allowEmptyLens: true, fetch: false }));
    await checkPlan(cinema);
    await checkSameRows(dataSource, rebuild);

    const vacuum = async () => void (await dataSource.query(VACUUM));
    const contenders: Contender[] = [
      { id: 'cinema', label: 'Cinema `project(OrgReceivables, {})`', prepare: vacuum, run: rebuild },
      {
        id: 'hand-sql',
        label: 'hand-written SQL (DELETE + INSERT ... SELECT), one transaction',
        prepare: vacuum,
        run: () => script(dataSource, FULL_SQL),
      },
      {
        id: 'refresh',
        label: '`REFRESH MATERIALIZED VIEW` of both views',
        prepare: vacuum,
        run: () => sequence(dataSource, [REFRESH_ACCOUNTS_RECEIVABLE, REFRESH_ORG_RECEIVABLES]),
      },
      {
        id: 'refresh-concurrently',
        label: '`REFRESH MATERIALIZED VIEW CONCURRENTLY` of both views',
        prepare: vacuum,
        run: () => sequence(dataSource, [REFRESH_ACCOUNTS_RECEIVABLE_CONCURRENTLY, REFRESH_ORG_RECEIVABLES_CONCURRENTLY]),
      },
      {
        id: 'hand-sql-truncate',
        label: 'hand-written SQL with TRUNCATE, one transaction',
        prepare: vacuum,
        run: () => script(dataSource, FULL_TRUNCATE_SQL),
      },
    ];
    const results = await measure(ctx, this.title, contenders, { warmups, rounds });
    const cinemaMs = find(results, 'cinema').medianMs;
    return scenarioResult(this, DEFINITION, began, {
      rounds,
      warmups,
      contenders: results,
      pairs: [
        pair(results, 'cinema', 'hand-sql'),
        pair(results, 'cinema', 'refresh'),
        pair(results, 'cinema', 'refresh-concurrently'),
        pair(results, 'cinema', 'hand-sql-truncate'),
      ],
      targets: [
        target('Cinema / hand-written SQL', cinemaMs / find(results, 'hand-sql').medianMs, 'at-most', 1.25, 'x'),
        target('Cinema / REFRESH MATERIALIZED VIEW', cinemaMs / find(results, 'refresh').medianMs, 'at-most', 1.5, 'x'),
      ],
    });
  },
};

/** `project(OrgReceivables, {})` must rebuild its materialized input too, as the hand-written script does. */
async function checkPlan(cinema: CinemaService): Promise<void> {
  const plan = await cinema.plan(OrgReceivables, {});
  const written = plan.steps.filter((step) => !step.virtual).map((step) => step.projection);
  if (written.join() !== 'AccountsReceivable,OrgReceivables') throw new Error(`the full rebuild writes ${written.join(', ')}`);
}

async function script(dataSource: DataSource, statements: readonly string[]): Promise<void> {
  await dataSource.transaction(async (manager) => {
    for (const sql of statements) await manager.query(sql);
  });
}

/** One statement after the other, each its own transaction, as a cron job would run them. */
async function sequence(dataSource: DataSource, statements: readonly string[]): Promise<void> {
  for (const sql of statements) await dataSource.query(sql);
}

/** After a rebuild each way, the tables and the views must hold the same rows. */
async function checkSameRows(dataSource: DataSource, rebuild: () => Promise<void>): Promise<void> {
  const fingerprints = async (suffix: string) =>
    JSON.stringify([
      (await dataSource.query(fingerprintSql('accounts_receivable', suffix)))[0],
      (await dataSource.query(fingerprintSql('org_receivables', suffix)))[0],
    ]);
  await rebuild();
  const byCinema = await fingerprints('');
  await script(dataSource, FULL_SQL);
  const byHand = await fingerprints('');
  await sequence(dataSource, [REFRESH_ACCOUNTS_RECEIVABLE, REFRESH_ORG_RECEIVABLES]);
  const byViews = await fingerprints('_mv');
  if (byCinema !== byHand || byHand !== byViews) {
    throw new Error(`full rebuild: contenders disagree: cinema ${byCinema}, hand ${byHand}, views ${byViews}`);
  }
}
