// A consumer application of the packed package: it imports only package names, as a user's app
// does. The pack test compiles it once as an ES module and once as CommonJS, then runs it.
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Column, DataSource, Entity, PrimaryColumn, type ObjectLiteral, type SelectQueryBuilder } from 'typeorm';
import { CinemaError, CinemaModule, CinemaService, Input, Projection, type OutputContext } from 'cinema-nestjs';
import { CinemaBoardModule } from 'cinema-nestjs/board';
import { CinemaCommandModule, runCinemaCli } from 'cinema-nestjs/cli';

@Entity('orders')
export class Order {
  @PrimaryColumn({ type: 'integer' }) id!: number;
  @Column({ name: 'org_id', type: 'integer' }) orgId!: number;
  @Column({ name: 'amount_cents', type: 'integer' }) amountCents!: number;
}

@Projection({ virtual: true, columns: ['orgId', 'amountCents'] })
export class Orders {
  output(ctx: OutputContext) {
    return ctx.read.createQueryBuilder(Order, 'o').select('o.orgId', 'orgId').addSelect('o.amountCents', 'amountCents');
  }
}

@Entity('org_totals')
@Projection({ partitionKey: 'orgId' })
export class OrgTotals {
  @PrimaryColumn({ name: 'org_id', type: 'integer' }) orgId!: number;
  @Column({ name: 'total_cents', type: 'bigint' }) totalCents!: string;

  @Input(() => Orders, { as: 'query' })
  derive(orders: SelectQueryBuilder<ObjectLiteral>) {
    return orders.connection
      .createQueryBuilder()
      .select('o."orgId"', 'orgId')
      .addSelect('SUM(o."amountCents")', 'totalCents')
      .from(`(${orders.getQuery()})`, 'o')
      .setParameters(orders.getParameters())
      .groupBy('o."orgId"');
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      autoLoadEntities: true,
      synchronize: true,
      entitySkipConstructor: true,
    }),
    TypeOrmModule.forFeature([Order]),
    CinemaModule.forRoot(),
    CinemaModule.forFeature([Orders, OrgTotals]),
  ],
})
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  try {
    const orders = app.get(DataSource).getRepository(Order);
    await orders.clear();
    await orders.insert([
      { id: 1, orgId: 1, amountCents: 100 },
      { id: 2, orgId: 1, amountCents: 250 },
      { id: 3, orgId: 2, amountCents: 999 },
    ]);
    const rows = await app.get(CinemaService).project(OrgTotals, { orgId: 1 });
    const refused = await app
      .get(CinemaService)
      .project(OrgTotals, { nope: 1 } as never)
      .then(
        () => 'accepted',
        (error: unknown) => (error instanceof CinemaError ? error.name : String(error)),
      );
    console.log(JSON.stringify({ rows, refused }));
  } finally {
    await app.close();
  }
}

@Module({ imports: [AppModule, CinemaCommandModule] })
class CliModule {}

@Module({
  imports: [AppModule, CinemaBoardModule.forRoot({ path: 'ops/cinema', guard: { canActivate: () => true }, canAct: true })],
})
class BoardModule {}

/** `node app.js board`: the board of cinema-nestjs/board over HTTP: its page, its files, a refresh from its API. */
async function board(): Promise<void> {
  const app = await NestFactory.create(BoardModule, { logger: ['error', 'warn'] });
  await app.listen(0, '127.0.0.1');
  try {
    const base = `${await app.getUrl()}/ops/cinema`;
    const page = await fetch(base);
    const html = await page.text();
    const assets: Record<string, number> = {};
    for (const file of ['board.js', 'board.css', 'mermaid.js']) assets[file] = (await fetch(`${base}/assets/${file}`)).status;
    const started = await fetch(`${base}/api/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cinema-board': '1' },
      body: JSON.stringify({ projection: 'OrgTotals', lens: { orgId: 2 } }),
    });
    const { id } = (await started.json()) as { id: string };
    const run = await app.get(CinemaService).awaitRun(id);
    const state = (await (await fetch(`${base}/api/state`)).json()) as { projections: { name: string }[] };
    console.log(
      JSON.stringify({
        page: page.status,
        base: html.includes('<base href="/ops/cinema/">'),
        assets,
        started: started.status,
        run: run.status,
        projections: state.projections.map((projection) => projection.name),
      }),
    );
  } finally {
    await app.close();
  }
}

// `node app.js cli <command>`: the package's command line over this application.
if (process.argv[2] === 'board') {
  board().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else if (process.argv[2] === 'cli') {
  process.argv.splice(2, 1);
  runCinemaCli(CliModule, { logger: ['error'] }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
