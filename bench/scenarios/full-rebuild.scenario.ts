import type { DataSource } from 'typeorm';
import type { CinemaService } from '../../lib/index.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { find, measure, median, pair, round2, scenarioResult, target, type Contender } from '../harness.js';
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
  rebuilds its input \`AccountsReceivable\` first, each table in its own transaction, each by swap
  (\`fullRebuild: 'swap'\`, the default): the rows go into a fresh table, its indexes are built
  after them, it gets the old table's planner statistics (PostgreSQL 18 restores them; REFRESH
  keeps the view's old ones) and its new size, and it is renamed in place of the old one under a
  lock held for milliseconds.
- **hand-sql**: one transaction: \`DELETE FROM accounts_receivable; INSERT ... SELECT; DELETE FROM
  org_receivables; INSERT ... SELECT\`.
- **refresh** / **refresh-concurrently**: \`REFRESH MATERIALIZED VIEW [CONCURRENTLY]\` of the two
  equivalent views, the second defined over the first, refreshed in that order.
- **hand-sql-truncate** (for reference): the hand-written script with \`TRUNCATE\` instead of
  \`DELETE\`. \`TRUNCATE\` locks readers out until commit, which Cinema promises never to do.

\`VACUUM\` of the four relations runs, untimed, before every contender: every run starts from a
table whose dead rows were cleaned, as autovacuum would between nightly rebuilds.

**Readers during a rebuild.** After the timed rounds, each of cinema, hand-sql and refresh runs
again (untimed) while a reader on its own connection queries both tables (a key lookup in each)
every 5 ms; the longest of its queries is the longest a reader was blocked. Right after Cinema's
rebuilds, the planner statistics of the two tables are counted (\`pg_stats\` rows: none would mean
readers' plans are guesses). Then \`ANALYZE\` of the two tables is timed alone (median of 3): what
gathering fresh statistics would add to Cinema's rebuild, and what carrying them over saves.`;

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
    const probes = ctx.options.quick ? 1 : 3;
    const waits: Record<string, number> = {};
    let statistics = 0;
    for (const contender of contenders.filter((c) => ['cinema', 'hand-sql', 'refresh'].includes(c.id))) {
      const longest: number[] = [];
      for (let i = 0; i < probes; i++) {
        await contender.prepare?.(i);
        longest.push(
          await longestReaderWait(dataSource, contender.id === 'refresh' ? '_mv' : '', () => contender.run(i).then(() => undefined)),
        );
      }
      waits[contender.id] = Math.max(...longest);
      ctx.log(`  longest reader wait during ${contender.id}: ${longest.map((ms) => ms.toFixed(1)).join(', ')} ms`);
      if (contender.id === 'cinema') statistics = await statisticsCount(dataSource);
    }
    const analyzeMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await dataSource.query(`ANALYZE accounts_receivable`);
      await dataSource.query(`ANALYZE org_receivables`);
      analyzeMs.push(performance.now() - started);
    }
    ctx.log(`  ANALYZE of both tables: ${analyzeMs.map((ms) => ms.toFixed(1)).join(', ')} ms`);
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
      metrics: [
        { label: `longest reader wait during Cinema's rebuild (worst of ${probes})`, value: round2(waits.cinema), unit: 'ms' },
        {
          label: `longest reader wait during the hand-written DELETE + INSERT (worst of ${probes})`,
          value: round2(waits['hand-sql']),
          unit: 'ms',
        },
        { label: `longest reader wait during REFRESH MATERIALIZED VIEW (worst of ${probes})`, value: round2(waits.refresh), unit: 'ms' },
        { label: "planner statistics of the two tables right after Cinema's rebuild (pg_stats rows)", value: statistics, unit: 'columns' },
        {
          label: 'ANALYZE of the two tables, which carrying statistics over saves (median of 3)',
          value: round2(median(analyzeMs)),
          unit: 'ms',
        },
      ],
      targets: [
        target('Cinema / hand-written SQL', cinemaMs / find(results, 'hand-sql').medianMs, 'at-most', 1.25, 'x'),
        target('Cinema / REFRESH MATERIALIZED VIEW', cinemaMs / find(results, 'refresh').medianMs, 'at-most', 1.0, 'x'),
        target("longest reader wait during Cinema's rebuild", waits.cinema, 'at-most', 50, 'ms'),
      ],
    });
  },
};

/** Columns of the two tables with planner statistics. */
async function statisticsCount(dataSource: DataSource): Promise<number> {
  const [{ count }] = await dataSource.query(
    `SELECT count(*)::int AS count FROM pg_stats WHERE schemaname = current_schema() AND tablename IN ('accounts_receivable', 'org_receivables')`,
  );
  return count;
}

/** `project(OrgReceivables, {})` must rebuild its materialized input too, as the hand-written script does. */
async function checkPlan(cinema: CinemaService): Promise<void> {
  const plan = await cinema.plan(OrgReceivables, {});
  const written = plan.steps.filter((step) => !step.virtual).map((step) => step.projection);
  if (written.join() !== 'AccountsReceivable,OrgReceivables') throw new Error(`the full rebuild writes ${written.join(', ')}`);
}

/**
 * The longest a reader on its own connection waited for a key lookup in each table, querying
 * every 5 ms while `rebuild` ran (`suffix` `'_mv'`: the materialized views).
 */
async function longestReaderWait(dataSource: DataSource, suffix: '' | '_mv', rebuild: () => Promise<void>): Promise<number> {
  const reader = dataSource.createQueryRunner();
  await reader.connect();
  try {
    let done = false;
    let longest = 0;
    const work = rebuild().finally(() => {
      done = true;
    });
    work.catch(() => undefined);
    for (let probe = 0; !done; probe++) {
      const started = performance.now();
      await reader.query(
        `SELECT (SELECT open_cents FROM accounts_receivable${suffix} WHERE account_id = $1) AS a,
                (SELECT invoiced_cents FROM org_receivables${suffix} WHERE org_id = $2 ORDER BY day LIMIT 1) AS b`,
        [1 + (probe % 1000), 1 + (probe % 10)],
      );
      longest = Math.max(longest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await work;
    return longest;
  } finally {
    await reader.release();
  }
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
