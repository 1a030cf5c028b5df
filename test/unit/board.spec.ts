import { describe, expect, it } from 'vitest';
import { In } from 'typeorm';
import { boardMermaid } from '../../lib/board/board-mermaid.js';
import { resolveBoardOptions } from '../../lib/board/board-options.js';
import { boardPage, graphDocument } from '../../lib/board/board-page.js';
import { lensText } from '../../lib/board/board.state.js';
import { criticalPath } from '../../lib/board/critical-path.js';
import { InvalidCinemaOptionsError } from '../../lib/errors/invalid-options.error.js';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

describe('the board', () => {
  it('follows the critical path back from the node that finished last, through the input that finished last', () => {
    // root → (fast, slow) → sink: the slow branch decided when the sink could start.
    const nodes = [
      { projection: 'Root', inputs: [], finishedAt: at(10) },
      { projection: 'Fast', inputs: ['Root'], finishedAt: at(20) },
      { projection: 'Slow', inputs: ['Root'], finishedAt: at(90) },
      { projection: 'Sink', inputs: ['Fast', 'Slow'], finishedAt: at(100) },
    ];
    expect(criticalPath(nodes)).toEqual(['Root', 'Slow', 'Sink']);
    // Inputs outside the run (skipped, never started) are not on it; a run with nothing finished has none.
    expect(criticalPath([{ projection: 'Sink', inputs: ['Elsewhere'], finishedAt: at(5) }])).toEqual(['Sink']);
    expect(criticalPath([{ projection: 'Sink', inputs: [] }])).toEqual([]);
  });

  it('draws the graph with a class per outcome and freshness, and labels Mermaid cannot misread', () => {
    const text = boardMermaid([
      { name: 'Invoices', virtual: true, inputs: [] },
      {
        name: 'Receivables',
        virtual: false,
        inputs: ['Invoices'],
        last: { status: 'failed', runId: 'r', written: 0 },
        freshness: { projection: 'Receivables', pendingChanges: 3, lagMs: 5000, status: 'error' },
      },
    ]);
    expect(text.split('\n')).toEqual([
      'flowchart LR',
      '  p_Invoices(["Invoices"])',
      '  p_Receivables["Receivables<br/>failed · 3 pending"]',
      '  p_Invoices --> p_Receivables',
      '  classDef none_pass fill:#f4f4f5,stroke:#9ca3af,color:#374151',
      '  class p_Invoices none_pass',
      '  classDef failed_error fill:#fbdada,stroke:#c62828,color:#5c1010,stroke:#b91c1c,stroke-width:4px,stroke-dasharray:6 3',
      '  class p_Receivables failed_error',
    ]);
    expect(boardMermaid([{ name: 'A"b<c>#', virtual: false, inputs: [] }])).toContain('p_A_b_c__["A#34;b#60;c#62;#35;"]');
  });

  it('prints lenses shortly, operators by name', () => {
    expect(lensText({})).toBe('everything');
    expect(lensText({ orgId: 42, region: ['eu', 'us'] })).toBe('orgId = 42, region in ("eu", "us")');
    expect(lensText({ orgId: In([1, 2]) })).toBe('orgId in(1, 2)');
  });

  it('escapes the mount path into the page, and any </script> out of an inlined bundle', () => {
    expect(boardPage('/a"b/')).toContain('<base href="/a&#34;b/">');
    const page = graphDocument('flowchart LR\n  a --> b', 'var s = "</script><b>";');
    expect(page).toContain('var s = "<\\/script><b>";');
    expect(page).toContain('a --&#62; b');
  });

  it('validates its options once: a guard is required, paths and run counts checked', () => {
    const guard = { canActivate: () => true };
    expect(resolveBoardOptions({ guard })).toMatchObject({ path: 'cinema', runs: 25 });
    expect(resolveBoardOptions({ guard, path: '/ops/cinema/' }).path).toBe('ops/cinema');
    expect(resolveBoardOptions({ guard, canAct: true }).canAct({})).toBe(true);
    expect(resolveBoardOptions({ guard }).canAct({})).toBe(false);
    const refused = (options: unknown) => () => resolveBoardOptions(options as never);
    expect(refused({})).toThrow(InvalidCinemaOptionsError);
    expect(refused({})).toThrow(/board guard.*is required/);
    expect(refused({ guard: {} })).toThrow(/board guard/);
    expect(refused({ guard, path: 'a b' })).toThrow(/board path/);
    expect(refused({ guard, runs: 0 })).toThrow(/board runs/);
    expect(refused({ guard, canAct: 'yes' })).toThrow(/board canAct/);
    expect(refused(undefined)).toThrow(/CinemaBoardModule.forRoot/);
  });
});
