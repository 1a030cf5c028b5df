import { createHash } from 'node:crypto';
import type { ProjectionModel } from './projection.model.js';

/** What the fingerprint of a projection's own definition covers (its inputs come in through their versions). */
function definitionOf(model: ProjectionModel): unknown {
  const source = (method: string) => {
    const fn: unknown = model.target.prototype?.[method];
    return typeof fn === 'function' ? Function.prototype.toString.call(fn) : null;
  };
  const table = model.table;
  return {
    virtual: model.virtual,
    output: model.hasOutput ? source('output') : null,
    derivations: model.derivations.map((d) => ({
      method: d.method,
      source: source(d.method),
      mode: d.mode,
      dateStrings: d.dateStrings,
      inputs: d.inputs.map((input) => nameOf(input)),
    })),
    table: table
      ? {
          path: table.path,
          columns: table.columns.map((c) => [c.property, c.column, c.primary, c.computed, c.kind]),
          conflictTarget: table.conflictTarget,
          onConflict: table.onConflict,
          required: table.required,
        }
      : null,
    columns: model.options.columns ?? null,
    // Upserting without a delete keeps rows no derivation returns any more: other results.
    dematerialize: model.dematerialize,
  };
}

function nameOf(input: ProjectionModel | Function): string {
  return typeof input === 'function' ? input.name : input.name;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Sets each projection's `version`: a hash of what defines its rows (the source text of its
 * derivations and `output()`, its table and columns, its inputs and the options that change
 * results), or of its `version` option when set, combined with the versions of its inputs, so
 * that a change upstream reaches everything downstream. Deterministic: the same build gives the
 * same versions in every process and after every restart (no paths, no times, keys in a fixed
 * order). Inputs that are not projections, and cycles, are left to the graph's checks.
 */
export function assignVersions(models: Iterable<ProjectionModel>): void {
  const done = new Set<ProjectionModel>();
  const visiting = new Set<ProjectionModel>();
  const visit = (model: ProjectionModel): string => {
    if (done.has(model)) return model.version;
    if (visiting.has(model)) return '';
    visiting.add(model);
    const own = model.options.version !== undefined ? `option:${model.options.version}` : sha256(JSON.stringify(definitionOf(model)));
    const inputs = model.inputs.map((input) => [nameOf(input), typeof input === 'function' ? '' : visit(input)]);
    model.version = sha256(JSON.stringify({ own, inputs })).slice(0, 16);
    visiting.delete(model);
    done.add(model);
    return model.version;
  };
  for (const model of models) visit(model);
}
