import 'reflect-metadata';
import { Injectable, Module, type Type } from '@nestjs/common';
import { DiscoveryModule, Reflector } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { CinemaMetadataAccessor } from '../../lib/discovery/cinema-metadata.accessor.js';
import { CinemaExplorer, type DiscoveredProjection } from '../../lib/discovery/cinema.explorer.js';
import { Input } from '../../lib/decorators/input.decorator.js';
import { Projection } from '../../lib/decorators/projection.decorator.js';
import { InvalidProjectionError } from '../../lib/errors/invalid-projection.error.js';

@Projection({ virtual: true, name: 'orgs', columns: ['orgId'] })
class Orgs {
  output() {
    return [{ orgId: 1 }];
  }
}

@Projection({ partitionKey: 'orgId' })
class Invoices {}

@Projection({ timeout: 500 })
class Report {
  @Input(() => Orgs)
  fromOrgs() {
    return [];
  }

  @Input(() => [Orgs, Invoices], { as: 'query' })
  fromBoth() {
    return [];
  }

  /** Not an input: the explorer leaves it out. */
  helper() {
    return 1;
  }
}

/** A plain provider: not a projection. */
@Injectable()
class Clock {
  @Input(() => Orgs)
  now() {
    return Date.now();
  }
}

async function explore(providers: Type<unknown>[], imports: Type<unknown>[] = []) {
  const moduleRef = await Test.createTestingModule({
    imports: [DiscoveryModule, ...imports],
    providers: [CinemaMetadataAccessor, CinemaExplorer, ...providers],
  }).compile();
  try {
    return { result: moduleRef.get(CinemaExplorer).explore(), accessor: moduleRef.get(CinemaMetadataAccessor) };
  } finally {
    await moduleRef.close();
  }
}

const byName = (projections: DiscoveredProjection[]) => Object.fromEntries(projections.map((p) => [p.target.name, p]));

/** A method of Report as the explorer reads it: the function on the prototype, unbound. */
const method = (name: 'fromBoth' | 'fromOrgs' | 'helper'): Function => Reflect.get(Report.prototype, name);

describe('CinemaMetadataAccessor', () => {
  it('reads what @Projection and @Input recorded, and nothing from undecorated targets', async () => {
    const { accessor } = await explore([]);
    expect(accessor.getProjectionOptions(Report)).toEqual({ timeout: 500 });
    expect(accessor.getProjectionOptions(Orgs)).toEqual({ virtual: true, name: 'orgs', columns: ['orgId'] });
    expect(accessor.getProjectionOptions(Clock)).toBeUndefined();
    expect(accessor.getProjectionOptions(undefined as never)).toBeUndefined();

    const input = accessor.getInputMetadata(method('fromBoth'))!;
    expect(input.options).toEqual({ as: 'query', dateStrings: false });
    expect(input.typeFn()).toEqual([Orgs, Invoices]);
    expect(accessor.getInputMetadata(method('fromOrgs'))!.options).toEqual({ as: 'stream', dateStrings: false });
    expect(accessor.getInputMetadata(method('helper'))).toBeUndefined();
    expect(accessor.getInputMetadata('fromOrgs' as never)).toBeUndefined();
  });

  it('keeps the options of each decoration apart', () => {
    const options = { partitionKey: 'orgId' };
    @Projection(options)
    class First {}
    options.partitionKey = 'changed';
    const accessor = new CinemaMetadataAccessor(new Reflector());
    expect(accessor.getProjectionOptions(First)).toEqual({ partitionKey: 'orgId' });
  });
});

describe('CinemaExplorer', () => {
  it('finds every @Projection provider with its @Input methods, inputs and modes', async () => {
    const { result } = await explore([Report, Orgs, Invoices, Clock]);
    const found = byName(result.projections);
    expect(Object.keys(found).sort()).toEqual(['Invoices', 'Orgs', 'Report']);

    expect(found.Report.options).toEqual({ timeout: 500 });
    expect(found.Report.instance).toBeInstanceOf(Report);
    expect(found.Report.hasOutput).toBe(false);
    expect(found.Report.derivations.sort((a, b) => a.method.localeCompare(b.method))).toEqual([
      { method: 'fromBoth', inputs: [Orgs, Invoices], mode: 'query', dateStrings: false },
      { method: 'fromOrgs', inputs: [Orgs], mode: 'stream', dateStrings: false },
    ]);
    expect(found.Orgs).toMatchObject({ hasOutput: true, derivations: [], options: { virtual: true } });
    expect(found.Invoices).toMatchObject({ hasOutput: false, derivations: [] });
  });

  it('finds projections in imported modules, once each', async () => {
    @Module({ providers: [Orgs, Invoices], exports: [Orgs] })
    class FeatureModule {}
    @Module({ imports: [FeatureModule], providers: [Report] })
    class ReportingModule {}
    const { result } = await explore([Orgs], [FeatureModule, ReportingModule]);
    expect(result.projections.map((p) => p.target.name).sort()).toEqual(['Invoices', 'Orgs', 'Report']);
  });

  it('finds nothing when no provider is a projection', async () => {
    expect((await explore([Clock])).result).toEqual({ projections: [] });
  });

  it.each([
    ['undefined', () => undefined, /resolved to undefined/],
    ['an empty list', () => [], /resolved to nothing/],
    ['a list with a hole', () => [Orgs, undefined], /resolved to undefined/],
  ])('names the method whose @Input thunk returns %s, and the likely fix', async (_label, thunk, message) => {
    @Projection()
    class Broken {
      @Input(thunk as never)
      derive() {
        return [];
      }
    }
    const error = await explore([Broken, Orgs]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidProjectionError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain('@Input() of Broken.derive()');
    expect((error as Error).message).toMatch(/circular import/);
  });
});
