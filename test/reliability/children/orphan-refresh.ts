import 'reflect-metadata';
import { Column, Entity, PrimaryColumn, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { Input, Projection, type OutputContext } from '../../../lib/index.js';
import { bootApp } from '../../support/app.js';

/**
 * A child process for the SIGKILL test: it refreshes a slice whose `INSERT ... SELECT` sleeps
 * (ORPHAN_SLEEP_S seconds per row, three rows) and prints `refreshing`; the test kills it there.
 * `CHECK_INTERVAL` is Cinema's `connectionCheckInterval`.
 */
const SLEEP_S = Number(process.env.ORPHAN_SLEEP_S ?? '2');

@Projection({ virtual: true, columns: ['id', 'orgId'] })
class OrphanSource {
  output(ctx: OutputContext) {
    return ctx.read
      .createQueryBuilder()
      .select('s.g', 'id')
      .addSelect('1', 'orgId')
      .from('(SELECT g FROM generate_series(1, 3) g)', 's')
      .where(`pg_sleep(${SLEEP_S}) IS NOT NULL`);
  }
}

@Entity('orphan_slices')
@Projection({ partitionKey: 'orgId' })
class OrphanSlices {
  @PrimaryColumn({ type: 'integer' }) id: number;
  @Column({ name: 'org_id', type: 'integer' }) orgId: number;

  @Input(() => OrphanSource, { as: 'query' })
  derive(source: SelectQueryBuilder<ObjectLiteral>) {
    return source;
  }
}

const t = await bootApp({
  dataSources: [{ url: process.env.DATABASE_URL!, synchronize: true, applicationName: 'cinema-orphan' }],
  projections: [OrphanSource, OrphanSlices],
  cinema: { connectionCheckInterval: Number(process.env.CHECK_INTERVAL), timeout: 0 },
});
await t.app.init();
process.stdout.write('refreshing\n');
await t.cinema.project(OrphanSlices, { orgId: 1 }, { fetch: false });
process.stdout.write('refreshed\n');
await t.close();
