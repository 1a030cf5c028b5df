import { describe, expect, it } from 'vitest';
import { assignVersions } from '../../lib/model/projection-version.js';
import type { ProjectionModel } from '../../lib/model/projection.model.js';

class TotalsA {
  derive() {
    return 'SELECT org_id, SUM(amount) FROM invoices GROUP BY org_id';
  }
}
class TotalsB {
  derive() {
    return 'SELECT org_id, 2 * SUM(amount) FROM invoices GROUP BY org_id';
  }
}
class Grades {
  derive() {
    return 'SELECT grade FROM totals';
  }
}

/** A model with what the fingerprint reads, the rest left out. */
function model(name: string, target: Function, inputs: ProjectionModel[] = [], options: Record<string, unknown> = {}): ProjectionModel {
  const columns = [{ property: 'orgId', column: 'org_id', primary: true, computed: false, kind: 'number' }];
  return {
    name,
    target,
    options,
    virtual: false,
    hasOutput: false,
    dematerialize: true,
    inputs,
    derivations: [{ method: 'derive', mode: 'query', dateStrings: false, inputs }],
    table: { path: `"public"."${name}"`, columns, conflictTarget: ['org_id'], onConflict: 'replace', required: [] },
    version: '',
  } as unknown as ProjectionModel;
}

function versions(totals: Function, options: Record<string, unknown> = {}, gradesOptions: Record<string, unknown> = {}) {
  const t = model('Totals', totals, [], options);
  const g = model('Grades', Grades, [t], gradesOptions);
  // Dependents first: the order the models come in does not matter.
  assignVersions([g, t]);
  return { totals: t.version, grades: g.version };
}

describe('projection versions: a fingerprint of what defines the rows', () => {
  it('is 16 hex digits, the same on every computation of the same definition', () => {
    const first = versions(TotalsA);
    expect(first.totals).toMatch(/^[0-9a-f]{16}$/);
    expect(versions(TotalsA)).toEqual(first);
  });

  it("changes with a derivation's source text, and reaches the projections downstream", () => {
    const a = versions(TotalsA);
    const b = versions(TotalsB);
    expect(b.totals).not.toBe(a.totals);
    expect(b.grades).not.toBe(a.grades);
  });

  it('changes with the table: a column, the conflict target', () => {
    const base = model('Totals', TotalsA);
    const renamed = model('Totals', TotalsA);
    renamed.table!.columns[0] = { ...renamed.table!.columns[0], column: 'org' };
    const keyed = model('Totals', TotalsA);
    keyed.table!.conflictTarget = ['org_id', 'total'];
    assignVersions([base, renamed, keyed]);
    expect(new Set([base.version, renamed.version, keyed.version]).size).toBe(3);
  });

  it('the version option replaces the fingerprint of the projection itself, not its inputs', () => {
    const pinnedA = versions(TotalsA, { version: '7' });
    const pinnedB = versions(TotalsB, { version: '7' });
    expect(pinnedA).toEqual(pinnedB);
    expect(pinnedA.totals).not.toBe(versions(TotalsA).totals);
    expect(versions(TotalsA, { version: '8' }).totals).not.toBe(pinnedA.totals);
    // A pinned dependent still follows its input.
    expect(versions(TotalsA, {}, { version: '1' }).grades).not.toBe(versions(TotalsB, {}, { version: '1' }).grades);
  });
});
