import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { barChart } from '../../bench/charts/bar-chart.js';
import { benchCharts } from '../../bench/charts/bench-charts.js';
import { formatCount, formatDuration, formatPercent } from '../../bench/charts/chart-format.js';
import { lineChart } from '../../bench/charts/line-chart.js';
import { scaleFor, suggestedScale } from '../../bench/charts/scale.js';
import { element, escapeXml, svgDocument } from '../../bench/charts/svg.js';
import { mergeIntoDocumented, renderReport } from '../../bench/report.js';
import type { BenchResults, ContenderResult, ScenarioResult } from '../../bench/results.interface.js';
import { orgCounts, spreadOrgs } from '../../bench/scenarios/fraction.scenario.js';

/**
 * A small well-formedness check: every tag closed in order, attributes quoted, and no `<` or
 * bare `&` outside markup (what an XML parser would reject first).
 */
function expectWellFormed(svg: string): void {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  for (const match of body.matchAll(tag)) {
    const between = body.slice(at, match.index);
    expect(between, `text before ${match[0]}`).not.toMatch(/<|&(?!(amp|lt|gt|quot|apos);)/);
    const [, closing, name, , selfClosing] = match;
    if (closing) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else if (!selfClosing) stack.push(name);
    at = match.index + match[0].length;
  }
  expect(body.slice(at).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(body.startsWith('<svg ')).toBe(true);
}

/** The `width` of the bar drawn for `value` (bars carry their value as `data-value`). */
function barWidth(svg: string, value: number): number {
  const match = new RegExp(`<rect [^>]*width="([\\d.]+)"[^>]*data-value="${value}"`).exec(svg);
  if (!match) throw new Error(`no bar for ${value}`);
  return Number(match[1]);
}

/** The points of the polyline of one series, as [x, y] pairs. */
function polyline(svg: string, series: string): number[][] {
  const match = new RegExp(`<polyline points="([^"]*)"[^>]*data-series="${escapeXml(series)}"`).exec(svg);
  if (!match) throw new Error(`no line for ${series}`);
  return match[1].split(' ').map((pair) => pair.split(',').map(Number));
}

const linearAxis = { label: 'time (ms)', kind: 'linear' as const, format: formatDuration };

describe('bench charts: the SVG writer', () => {
  it('escapes text and attribute values', () => {
    expect(escapeXml(`a < b & "c" > 'd'`)).toBe('a &lt; b &amp; &quot;c&quot; &gt; &apos;d&apos;');
    expect(element('text', { 'data-x': 'R&D <1>' })).toBe('<text data-x="R&amp;D &lt;1&gt;"/>');
  });

  it('writes a standalone, labelled image: title and desc referenced by aria-labelledby', () => {
    const svg = svgDocument({ id: 'c', width: 100, height: 50, title: 'T & U', description: 'D <x>', body: [] });
    expectWellFormed(svg);
    expect(svg).toContain('role="img"');
    expect(svg).toContain('aria-labelledby="c-title c-desc"');
    expect(svg).toContain('<title id="c-title">T &amp; U</title>');
    expect(svg).toContain('<desc id="c-desc">D &lt;x&gt;</desc>');
  });

  it('draws a bar twice as long for twice the value on a linear axis, with escaped labels', () => {
    const svg = barChart({
      id: 'bars',
      title: 'A < B & C',
      description: 'bars',
      footnote: 'npm run bench -- --only a,b <scale 1> & more',
      axis: linearAxis,
      bars: [
        { label: 'Cinema <fast>', value: 10, valueLabel: '10 ms' },
        { label: 'R&D', value: 20, valueLabel: '20 ms' },
        { label: 'third', value: 35, valueLabel: '35 ms' },
      ],
    });
    expectWellFormed(svg);
    expect(barWidth(svg, 20)).toBeCloseTo(2 * barWidth(svg, 10), 1);
    expect(barWidth(svg, 35)).toBeCloseTo(3.5 * barWidth(svg, 10), 1);
    expect(svg).toContain('>Cinema &lt;fast&gt;</text>');
    expect(svg).toContain('>R&amp;D</text>');
    expect(svg).not.toContain('<fast>');
    // The axis has units on its ticks and its label.
    expect(svg).toContain('>time (ms)</text>');
    expect(svg).toContain('>10 ms</text>');
  });

  it('spaces powers of ten evenly on a log axis: a bar for 1,000 is twice as long as one for 100 from 10', () => {
    const svg = barChart({
      id: 'log',
      title: 'log',
      description: 'log bars',
      axis: { ...linearAxis, kind: 'log' },
      bars: [10, 100, 1000].map((value) => ({ label: `v${value}`, value, valueLabel: `${value}` })),
    });
    expectWellFormed(svg);
    expect(barWidth(svg, 1000)).toBeCloseTo(2 * barWidth(svg, 100), 1);
    for (const tick of ['10 ms', '100 ms', '1 s']) expect(svg).toContain(`>${tick}</text>`);
  });

  it('places line points by their values on log-log axes', () => {
    const svg = lineChart({
      id: 'lines',
      title: 'Time against fraction',
      description: 'lines',
      x: { label: 'fraction (log scale)', kind: 'log', format: formatPercent },
      y: { label: 'time (log scale)', kind: 'log', format: formatDuration },
      series: [
        { name: 'Cinema & co', points: [1, 10, 100].map((x) => ({ x: x / 1000, y: x })) },
        { name: 'REFRESH', dashed: true, points: [1, 10, 100].map((x) => ({ x: x / 1000, y: 100 })) },
      ],
    });
    expectWellFormed(svg);
    const cinema = polyline(svg, 'Cinema & co');
    // Equal steps in x and in y for each factor of ten; y grows upwards (smaller pixel values).
    expect(cinema[1][0] - cinema[0][0]).toBeCloseTo(cinema[2][0] - cinema[1][0], 1);
    expect(cinema[0][1] - cinema[1][1]).toBeCloseTo(cinema[1][1] - cinema[2][1], 1);
    expect(cinema[1][1]).toBeLessThan(cinema[0][1]);
    const refresh = polyline(svg, 'REFRESH');
    expect(refresh[0][1]).toBe(cinema[2][1]);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('>Cinema &amp; co</text>');
  });
});

describe('bench charts: scales and labels', () => {
  it('maps a linear scale from zero to a round top, and a log scale by powers of ten', () => {
    const linear = scaleFor('linear', [6.7, 3.9], [0, 400]);
    expect(linear.domain).toEqual([0, 8]);
    expect(linear.ticks).toEqual([0, 2, 4, 6, 8]);
    expect(linear.map(4)).toBe(200);

    const log = scaleFor('log', [3, 1900], [0, 300]);
    expect(log.domain).toEqual([1, 10_000]);
    expect(log.ticks).toEqual([1, 10, 100, 1000, 10_000]);
    expect(log.map(10)).toBeCloseTo(75);
    expect(log.map(1000)).toBeCloseTo(225);

    const tight = scaleFor('log', [200_000, 2_000_000], [0, 100], { tight: true });
    expect(tight.domain).toEqual([200_000, 2_000_000]);
    expect(tight.ticks).toEqual([200_000, 500_000, 1_000_000, 2_000_000]);
  });

  it('suggests a log scale when the values span orders of magnitude', () => {
    expect(suggestedScale([4.03, 1260])).toBe('log');
    expect(suggestedScale([3900, 6700])).toBe('linear');
  });

  it('prints ticks with their units', () => {
    expect([0.5, 20, 1000, 2500].map(formatDuration)).toEqual(['0.5 ms', '20 ms', '1 s', '2.5 s']);
    expect([500, 20_000, 1_500_000].map(formatCount)).toEqual(['500', '20k', '1.5M']);
    expect([0.001, 0.1, 1].map(formatPercent)).toEqual(['0.1%', '10%', '100%']);
  });
});

describe('bench charts: from the results', () => {
  it('draws the headline charts, and embeds them in their scenario sections', () => {
    const results = benchResults([oneOrg(), streamed(), fraction()]);
    const charts = benchCharts(results);
    expect(charts.map((c) => c.name)).toEqual(['one-org.svg', 'streamed-throughput.svg', 'streamed-memory.svg', 'fraction.svg']);
    for (const chart of charts) expectWellFormed(chart.svg);
    const report = renderReport(results, 'bench/results.json', charts);
    expect(report).toMatch(/## 1\. One org[\s\S]*!\[[^\]]*Cinema 4\.03 ms[^\]]*\]\(bench\/one-org\.svg\)[\s\S]*## 3\./);
    expect(report).toContain('](bench/fraction.svg)');
    // The fraction is read from the scenario (50 orgs), not from the header's sizes.
    expect(charts[3].svg).toContain('>100%</text>');
    // The references timed at the large size only are one point each, named in the legend and the text.
    expect(charts[1].alt).toContain('bare binary COPY pipe (pg + pg-copy-streams): 278k rows/s at 2M rows');
    expect(charts[1].alt).toContain('Cinema, rows through JavaScript (ctx.stream): 73.7k rows/s at 2M rows');
    expect(charts[1].svg).toContain('>bare binary COPY pipe (pg + pg-copy-streams)</text>');
  });

  it('draws every image the README shows', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const shown = [...readme.matchAll(/\]\(docs\/bench\/([\w-]+\.svg)\)/g)].map((m) => m[1]);
    expect(shown.length).toBeGreaterThan(0);
    const drawn = benchCharts(benchResults([oneOrg(), streamed(), fraction()])).map((c) => c.name);
    for (const name of shown) expect(drawn).toContain(name);
  });

  it('draws a failed scenario nothing', () => {
    const failed: ScenarioResult = { ...oneOrg(), contenders: [], error: 'boom' };
    expect(benchCharts(benchResults([failed]))).toEqual([]);
  });

  it('keeps the charts of scenarios a partial documented run did not re-run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cinema-charts-'));
    try {
      const path = join(dir, 'results.json');
      await writeFile(path, JSON.stringify(benchResults([oneOrg(), streamed()])));
      const partial = { ...benchResults([fraction()]), command: 'npm run bench -- --only fraction --write-docs' };
      const merged = await mergeIntoDocumented(partial, path);
      const names = benchCharts(merged).map((c) => c.name);
      expect(names).toEqual(['one-org.svg', 'streamed-throughput.svg', 'streamed-memory.svg', 'fraction.svg']);
      expect(benchCharts(merged).find((c) => c.name === 'fraction.svg')!.svg).toContain('--only fraction --write-docs');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('bench: the orgs of the fraction scenario', () => {
  it('refreshes 1, 10, 100 and 1,000 orgs at full scale, and all orgs last at any scale', () => {
    expect(orgCounts(1000)).toEqual([1, 10, 100, 1000]);
    expect(orgCounts(50)).toEqual([1, 10, 50]);
    expect(orgCounts(200)).toEqual([1, 10, 100, 200]);
  });

  it('spreads distinct orgs over the table and moves them every round', () => {
    for (const [count, total] of [
      [10, 1000],
      [100, 1000],
      [50, 50],
    ]) {
      const orgs = spreadOrgs(count, total, 3);
      expect(new Set(orgs).size).toBe(count);
      expect(Math.min(...orgs)).toBeGreaterThanOrEqual(1);
      expect(Math.max(...orgs)).toBeLessThanOrEqual(total);
    }
    expect(spreadOrgs(10, 1000, 0)).not.toEqual(spreadOrgs(10, 1000, 1));
  });
});

function contender(id: string, medianMs: number, extras?: Record<string, number[]>): ContenderResult {
  return { id, label: id, samplesMs: [medianMs], medianMs, minMs: medianMs, maxMs: medianMs, ...(extras ? { extras } : {}) };
}

function scenario(id: string, title: string, contenders: ContenderResult[], metrics: ScenarioResult['metrics'] = []): ScenarioResult {
  return { id, title, definition: '', rounds: 3, warmups: 1, contenders, pairs: [], metrics, targets: [], notes: [], durationMs: 1 };
}

function oneOrg(): ScenarioResult {
  return scenario('one-org', '1. One org', [contender('cinema', 4.03), contender('hand-sql', 3.09), contender('refresh', 1261)]);
}

function streamed(): ScenarioResult {
  const run = (id: string, ms: number, rate: number, rss: number) => contender(id, ms, { rowsPerSecond: [rate], maxRssMb: [rss] });
  return scenario('streamed', '3. Streamed', [
    run('cinema-200000', 1383, 144_592, 131.8),
    run('typeorm-200000', 7442, 26_873, 209.4),
    run('cinema-2000000', 13_435, 148_861, 135.1),
    run('typeorm-2000000', 74_099, 26_991, 210.9),
    run('pipe-2000000', 7_203, 277_670, 120.2),
    run('cinema-rows-2000000', 27_121, 73_744, 140.3),
  ]);
}

function fraction(): ScenarioResult {
  return scenario(
    'fraction',
    '10. Fraction',
    [1, 10, 50].flatMap((n) => [contender(`cinema-${n}`, 5 * n), contender(`hand-sql-${n}`, 6 * n)]).concat(contender('refresh', 200)),
    [{ label: 'orgs in the table', value: 50, unit: 'orgs' }],
  );
}

function benchResults(scenarios: ScenarioResult[]): BenchResults {
  return {
    command: 'npm run bench',
    date: '2026-12-01T00:00:00.000Z',
    quick: false,
    documented: true,
    machine: { cpus: 2, cpuModel: 'cpu', memoryGb: 8, os: 'Linux', node: 'v20' },
    postgres: { version: 'PostgreSQL 18.4', embedded: true, settings: {} },
    sizes: {
      scale: 1,
      orgs: 1000,
      accountsPerOrg: 100,
      invoicesPerAccount: 30,
      accounts: 100_000,
      invoices: 3_000_000,
      streamRows: 2_000_000,
      streamRowsSmall: 200_000,
      wideRows: 1_000_000,
      wideRowsSmall: 100_000,
    },
    setupSeconds: {},
    scenarios,
    totalSeconds: 1,
  };
}
