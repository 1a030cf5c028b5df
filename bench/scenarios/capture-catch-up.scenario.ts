import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { DataSource } from 'typeorm';
import { AppModule } from '../../sample-app/src/app.module.js';
import { OrgReceivables } from '../../sample-app/src/receivables/org-receivables.projection.js';
import { sliceDifferences } from '../../sample-app/src/database/ground-truth.js';
import { find, formatMs, measure, pair, round3, scenarioResult, target, type Contender } from '../harness.js';
import { REFRESH_ACCOUNTS_RECEIVABLE, REFRESH_ORG_RECEIVABLES, fingerprintSql } from '../fixtures/receivables.queries.js';
import type { Scenario } from '../scenario.interface.js';

/** The sample app's watcher interval (AppModule: `capture: { interval: 200 }`). */
const SAMPLE_INTERVAL_MS = 200;
const POLL_MS = 20;
/**
 * The watcher-batch contender's \`capture.batch\`: ten times the default. Not larger: grouping a
 * read's marks is quadratic in their number today (100,000 marks in one read took over a minute).
 */
const LARGE_BATCH = 10_000;
const VACUUM = `VACUUM ANALYZE invoices, accounts_receivable, org_receivables, accounts_receivable_mv, org_receivables_mv`;

function definition(writes: number, orgs: number, totalOrgs: number): string {
  return `The sample app's receivables fall behind, then catch up. With no watcher running (the bench's
app boots with \`capture: false\`; the capture triggers of the sample's \`AddCapture\` migration are
installed), ${writes.toLocaleString('en-US')} single-row \`UPDATE invoices\` statements (new status and amount of a random
invoice) spread over ${orgs} of the ${totalOrgs.toLocaleString('en-US')} orgs (1%), committed every 1,000 statements by a
\`DO\` block: one dirty mark per statement.

- **watcher**: boot the sample app with its watcher (\`AppModule\` with capture on, every
  ${SAMPLE_INTERVAL_MS} ms, \`batch\` 1,000) and time from the boot until \`cinema.changes\` is empty: the
  marked orgs' slices of \`AccountsReceivable\`, then \`OrgReceivables\`, refreshed. The boot (about
  50 ms, \`bootMs\` in the results) is inside the time.
- **watcher-batch**: the same with \`capture: { interval: ${SAMPLE_INTERVAL_MS}, batch: ${LARGE_BATCH.toLocaleString('en-US')} }\`: ten times fewer reads
  and settling transactions.
- **slices**: no marks, the written orgs' slices alone: \`cinema.project(OrgReceivables, { orgId:
  [the ${orgs} orgs] })\` (their \`AccountsReceivable\` slices, then their \`OrgReceivables\` slices):
  what a watcher that handled the marks for free would still do.
- **refresh**: \`REFRESH MATERIALIZED VIEW\` of the two equivalent views (what the same catch-up
  costs without slices).

\`VACUUM ANALYZE\` of the tables and views runs, untimed, before each contender (before the writes
for the watcher). After each catch-up, untimed, every written org's slices are compared with
the ground truth computed from the billing tables; at the end both tables are compared with the
freshly refreshed views.`;
}

/** Scenario: a backlog of writes to 1% of the orgs, caught up by the watcher against REFRESH MATERIALIZED VIEW. */
export const captureCatchUpScenario: Scenario = {
  id: 'capture-catch-up',
  title: '9. Change capture: catch-up after a backlog of writes',
  usesBillingApp: true,
  async run(ctx) {
    const began = performance.now();
    const { cinema, dataSource } = await ctx.billing();
    const url = await ctx.database('cinema_bench');
    const totalOrgs = ctx.sizes.orgs;
    const orgCount = Math.max(1, Math.round(totalOrgs / 100));
    const orgs = Array.from({ length: orgCount }, (_, i) => 1 + Math.floor((i * totalOrgs) / orgCount));
    const writes = Math.max(1_000, Math.round(100_000 * Math.min(ctx.sizes.scale, 1)));
    const perOrg = ctx.sizes.accountsPerOrg * ctx.sizes.invoicesPerAccount;
    await checkInvoiceLayout(dataSource, orgs, perOrg);
    // Marks the seeding left (the triggers saw it); the tables were built after it.
    await dataSource.query(`TRUNCATE "cinema"."changes"`);
    const { rounds, warmups } = ctx.rounds({ full: 3, quick: 2 });

    const backlog = async () => {
      await dataSource.query(VACUUM);
      const wrote = performance.now();
      await dataSource.query(writeBacklogSql(orgs, perOrg, writes));
      const [{ marks }] = await dataSource.query(`SELECT count(*)::int AS marks FROM "cinema"."changes"`);
      ctx.log(
        `  ${writes.toLocaleString('en-US')} writes in ${formatMs(performance.now() - wrote)}: ${marks.toLocaleString('en-US')} marks`,
      );
    };
    const catchUp = async (capture: { interval: number; batch?: number }) => {
      const started = performance.now();
      // Errors only: the bench's own sample app holds the 'default' data source name too, and
      // @nestjs/typeorm warns about it while the module is built (before the app's own logger applies).
      Logger.overrideLogger(['error']);
      const app = await NestFactory.createApplicationContext(
        AppModule.forRoot({
          databaseUrl: url,
          poolSize: 10,
          schedule: false,
          capture: true,
          cinema: { allowEmptyLens: true, timeout: 0, capture },
        }),
        { logger: ['error'], abortOnError: false },
      ).finally(() => Logger.overrideLogger(['error', 'warn']));
      const booted = performance.now() - started;
      try {
        while ((await dataSource.query(`SELECT EXISTS (SELECT 1 FROM "cinema"."changes") AS "left"`))[0].left) {
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        }
        return { ms: performance.now() - started, extras: { bootMs: booted } };
      } finally {
        await app.close();
        await checkSlices(dataSource, orgs);
      }
    };

    const contenders: Contender[] = [
      {
        id: 'watcher',
        label: `watcher catch-up, sample app's settings (interval ${SAMPLE_INTERVAL_MS} ms, batch 1,000)`,
        prepare: backlog,
        run: () => catchUp({ interval: SAMPLE_INTERVAL_MS }),
      },
      {
        id: 'watcher-batch',
        label: `watcher catch-up, \`capture.batch\` ${LARGE_BATCH.toLocaleString('en-US')}`,
        prepare: backlog,
        run: () => catchUp({ interval: SAMPLE_INTERVAL_MS, batch: LARGE_BATCH }),
      },
      {
        id: 'slices',
        label: `\`project(OrgReceivables, { orgId: [${orgCount} orgs] })\`: the slices alone, no marks`,
        prepare: async () => void (await dataSource.query(VACUUM)),
        run: async () => void (await cinema.project(OrgReceivables, { orgId: orgs }, { fetch: false })),
      },
      {
        id: 'refresh',
        label: '`REFRESH MATERIALIZED VIEW` of both views',
        prepare: async () => void (await dataSource.query(VACUUM)),
        run: async () => {
          await dataSource.query(REFRESH_ACCOUNTS_RECEIVABLE);
          await dataSource.query(REFRESH_ORG_RECEIVABLES);
        },
      },
    ];
    const results = await measure(ctx, this.title, contenders, { warmups, rounds });
    await checkTables(dataSource);
    const refreshMs = find(results, 'refresh').medianMs;
    const speedUp = refreshMs / find(results, 'watcher').medianMs;
    return scenarioResult(this, definition(writes, orgCount, totalOrgs), began, {
      rounds,
      warmups,
      contenders: results,
      pairs: [pair(results, 'watcher', 'refresh'), pair(results, 'watcher-batch', 'refresh'), pair(results, 'slices', 'refresh')],
      metrics: [
        { label: 'writes (one mark each)', value: writes, unit: 'statements' },
        { label: 'orgs written', value: orgCount, unit: 'orgs' },
        {
          label: `REFRESH / watcher with batch ${LARGE_BATCH.toLocaleString('en-US')} (speed-up)`,
          value: round3(refreshMs / find(results, 'watcher-batch').medianMs),
          unit: 'x',
        },
        { label: 'REFRESH / the slices alone (speed-up)', value: round3(refreshMs / find(results, 'slices').medianMs), unit: 'x' },
      ],
      targets: [target('REFRESH MATERIALIZED VIEW / watcher catch-up (speed-up)', speedUp, 'at-least', 20, 'x')],
      notes: [
        `Orgs written: ${orgs.join(', ')}. Verified after every catch-up: their slices of both tables equal the ground truth; after the last round: both whole tables equal the refreshed views.`,
      ],
    });
  },
};

/**
 * A DO block of `writes` single-row UPDATEs of random invoices of `orgs`, committing every
 * 1,000 (the seeder numbers an org's invoices contiguously: `perOrg` of them from (org − 1) × perOrg + 1).
 */
function writeBacklogSql(orgs: readonly number[], perOrg: number, writes: number): string {
  return `DO $backlog$
    DECLARE
      orgs int[] := ARRAY[${orgs.map((org) => Math.trunc(org)).join(', ')}];
      o int;
      target bigint;
    BEGIN
      FOR i IN 1..${Math.trunc(writes)} LOOP
        o := orgs[1 + floor(random() * array_length(orgs, 1))::int];
        -- Computed first: random() in the WHERE clause would be drawn once per row scanned.
        target := (o - 1)::bigint * ${Math.trunc(perOrg)} + 1 + floor(random() * ${Math.trunc(perOrg)})::bigint;
        UPDATE invoices SET status = (ARRAY['open', 'paid', 'void'])[1 + floor(random() * 3)::int],
                            amount_cents = 500 + floor(random() * 250000)::bigint
          WHERE id = target;
        IF i % 1000 = 0 THEN COMMIT; END IF;
      END LOOP;
    END $backlog$`;
}

/** The writes address invoices by id: check that each org's ids are where the seeder put them. */
async function checkInvoiceLayout(dataSource: DataSource, orgs: readonly number[], perOrg: number): Promise<void> {
  for (const org of orgs) {
    const [row] = await dataSource.query(
      `SELECT count(*)::int AS n, min(id)::text AS first, max(id)::text AS last FROM invoices WHERE org_id = $1`,
      [org],
    );
    if (row.n !== perOrg || Number(row.first) !== (org - 1) * perOrg + 1 || Number(row.last) !== org * perOrg) {
      throw new Error(`org ${org}'s invoices are not numbered ${(org - 1) * perOrg + 1}..${org * perOrg}: ${JSON.stringify(row)}`);
    }
  }
}

async function checkSlices(dataSource: DataSource, orgs: readonly number[]): Promise<void> {
  for (const org of orgs) {
    const differences = await sliceDifferences(dataSource, org);
    if (differences.accountsReceivable !== 0 || differences.orgReceivables !== 0) {
      throw new Error(`after the catch-up, org ${org} differs from the ground truth: ${JSON.stringify(differences)}`);
    }
  }
}

async function checkTables(dataSource: DataSource): Promise<void> {
  await dataSource.query(REFRESH_ACCOUNTS_RECEIVABLE);
  await dataSource.query(REFRESH_ORG_RECEIVABLES);
  for (const relation of ['accounts_receivable', 'org_receivables'] as const) {
    const [table] = await dataSource.query(fingerprintSql(relation));
    const [view] = await dataSource.query(fingerprintSql(relation, '_mv'));
    if (table.hash !== view.hash) throw new Error(`${relation} differs from its refreshed view: ${JSON.stringify({ table, view })}`);
  }
}
