import { formatMs, median } from '../harness.js';
import type { BenchResults, ContenderResult, ScenarioResult } from '../results.interface.js';
import { barChart, type Bar } from './bar-chart.js';
import { formatCount, formatDuration, formatPercent } from './chart-format.js';
import { lineChart, type Series } from './line-chart.js';
import { suggestedScale } from './scale.js';
import { PALETTE } from './svg.js';

/** One picture of docs/BENCHMARKS.md, drawn into docs/bench/. */
export interface ChartFile {
  /** File name in docs/bench/: stable, so the README can point at it. */
  name: string;
  /** The scenario whose section shows it. */
  scenarioId: string;
  /** The Markdown image's alternative text. */
  alt: string;
  svg: string;
}

/** The same contender keeps its colour in every chart. */
const COLOURS: Record<string, string> = {
  cinema: PALETTE[0],
  'hand-sql': PALETTE[1],
  refresh: PALETTE[2],
  'refresh-concurrently': PALETTE[3],
  typeorm: PALETTE[1],
  // Never in a chart with REFRESH CONCURRENTLY; the palette's orange is too light for a thin line.
  'cinema-wide': PALETTE[3],
  pipe: PALETTE[2],
  'cinema-rows': PALETTE[5],
};

const NAMES: Record<string, string> = {
  cinema: 'Cinema',
  'hand-sql': 'hand-written SQL',
  refresh: 'REFRESH MATERIALIZED VIEW',
  'refresh-concurrently': 'REFRESH MATERIALIZED VIEW CONCURRENTLY',
  typeorm: 'TypeORM upsert loop',
  'cinema-wide': 'Cinema, wide rows (1.1 KB)',
  pipe: 'bare binary COPY pipe (pg + pg-copy-streams)',
  'cinema-rows': 'Cinema, rows through JavaScript (ctx.stream)',
};

/**
 * The charts the results can draw: the headline comparisons of scenarios 1, 2, 3 and 10. A
 * scenario that failed or is missing (results written before it existed) draws nothing.
 */
export function benchCharts(results: BenchResults): ChartFile[] {
  const scenario = (id: string) => results.scenarios.find((s) => s.id === id && !s.error && s.contenders.length);
  const charts: ChartFile[] = [];
  const oneOrg = scenario('one-org');
  if (oneOrg) charts.push(contenderBars(results, oneOrg, 'one-org.svg', "One org's slice of AccountsReceivable", 'log'));
  const rebuild = scenario('full-rebuild');
  if (rebuild) charts.push(contenderBars(results, rebuild, 'full-rebuild.svg', 'Full rebuild of AccountsReceivable and OrgReceivables'));
  const streamed = scenario('streamed');
  if (streamed) charts.push(...streamedCharts(results, streamed));
  const fraction = scenario('fraction');
  if (fraction) charts.push(fractionChart(results, fraction));
  return charts;
}

/** Cinema, hand-written SQL and the view refreshes side by side: median time of each. */
function contenderBars(results: BenchResults, s: ScenarioResult, name: string, title: string, kind?: 'log' | 'linear'): ChartFile {
  const ids = ['cinema', 'hand-sql', 'refresh', 'refresh-concurrently'];
  const bars: Bar[] = ids.flatMap((id) => {
    const c = s.contenders.find((r) => r.id === id);
    return c ? [{ label: NAMES[id], value: c.medianMs, valueLabel: formatMs(c.medianMs), color: COLOURS[id] }] : [];
  });
  const scale = kind ?? suggestedScale(bars.map((b) => b.value));
  const description = `${title}, median wall time of ${s.rounds} rounds: ${bars.map((b) => `${b.label} ${b.valueLabel}`).join(', ')}.`;
  const svg = barChart({
    id: chartId(name),
    title: `${title}: median time`,
    subtitle: `Shorter is faster.${scale === 'log' ? ' Log scale: each grid step is ten times longer.' : ''}`,
    description,
    footnote: measuredBy(results, s),
    axis: { label: `median wall time${scale === 'log' ? ', log scale' : ''}`, kind: scale, format: formatDuration },
    bars,
  });
  return { name, scenarioId: s.id, alt: description, svg };
}

/**
 * Throughput and peak memory against the rows copied, for each contender of the streamed path;
 * the machine's bare COPY pipe and the row-by-row path are timed at the large size only (a point).
 */
function streamedCharts(results: BenchResults, s: ScenarioResult): ChartFile[] {
  const kinds = ['cinema', 'typeorm', 'cinema-wide', 'pipe', 'cinema-rows'];
  const seriesOf = (extra: string): Series[] =>
    kinds.flatMap((kind) => {
      const points = s.contenders
        .map((c) => ({ c, rows: rowsOf(c, kind) }))
        .filter((p): p is { c: ContenderResult; rows: number } => p.rows !== undefined && !!p.c.extras?.[extra]?.length)
        .map(({ c, rows }) => ({ x: rows, y: median(c.extras![extra]) }))
        .sort((a, b) => a.x - b.x);
      return points.length ? [{ name: NAMES[kind], points, color: COLOURS[kind] }] : [];
    });
  const footnote = measuredBy(results, s);
  const describe = (series: Series[], unit: string) =>
    series.map((l) => `${l.name}: ${l.points.map((p) => `${formatCount(p.y)} ${unit} at ${formatCount(p.x)} rows`).join(', ')}`).join('; ');

  const throughput = seriesOf('rowsPerSecond');
  const memory = seriesOf('maxRssMb');
  const charts: ChartFile[] = [];
  if (throughput.length) {
    const description = `Streamed path, rows per second against rows copied (median of ${s.rounds} runs). ${describe(throughput, 'rows/s')}.`;
    charts.push({
      name: 'streamed-throughput.svg',
      scenarioId: s.id,
      alt: description,
      svg: lineChart({
        id: 'streamed-throughput',
        title: 'Streamed path: throughput against rows copied',
        subtitle: 'Read and write databases differ: rows move from one to the other. Higher is faster.',
        description,
        footnote,
        x: { label: 'rows copied (log scale)', kind: 'log', format: formatCount },
        y: { label: 'rows per second', kind: 'linear', format: formatCount },
        series: throughput,
      }),
    });
  }
  if (memory.length) {
    const description = `Streamed path, peak resident memory of the process against rows copied (median of ${s.rounds} runs). ${describe(memory, 'MB')}.`;
    charts.push({
      name: 'streamed-memory.svg',
      scenarioId: s.id,
      alt: description,
      svg: lineChart({
        id: 'streamed-memory',
        title: 'Streamed path: peak memory against rows copied',
        subtitle: 'Peak RSS of the process that moves the rows. A flat line: memory does not grow with the rows.',
        description,
        footnote,
        x: { label: 'rows copied (log scale)', kind: 'log', format: formatCount },
        y: { label: 'peak RSS (MB)', kind: 'linear', format: formatCount },
        series: memory,
      }),
    });
  }
  return charts;
}

/** `cinema-200000` → 200000 for kind `cinema` (and not for `cinema-wide-...`). */
function rowsOf(c: ContenderResult, kind: string): number | undefined {
  const match = new RegExp(`^${kind}-(\\d+)$`).exec(c.id);
  return match ? Number(match[1]) : undefined;
}

/** Time against the fraction of orgs refreshed, log-log, with REFRESH as a flat reference. */
function fractionChart(results: BenchResults, s: ScenarioResult): ChartFile {
  const total = s.metrics.find((m) => m.label === 'orgs in the table')?.value ?? results.sizes.orgs;
  const line = (kind: string): Series => ({
    name: NAMES[kind],
    color: COLOURS[kind],
    points: s.contenders
      .map((c) => ({ c, orgs: rowsOf(c, kind) }))
      .filter((p): p is { c: ContenderResult; orgs: number } => p.orgs !== undefined)
      .map(({ c, orgs }) => ({ x: orgs / total, y: c.medianMs }))
      .sort((a, b) => a.x - b.x),
  });
  const cinema = line('cinema');
  const hand = line('hand-sql');
  const refresh = s.contenders.find((c) => c.id === 'refresh');
  const series: Series[] = [cinema, hand];
  if (refresh) {
    series.push({
      name: `${NAMES.refresh} (every org, whatever changed)`,
      color: COLOURS.refresh,
      dashed: true,
      points: cinema.points.map((p) => ({ x: p.x, y: refresh.medianMs })),
    });
  }
  const description =
    `Median time to refresh AccountsReceivable and OrgReceivables for a fraction of the ${total.toLocaleString('en-US')} orgs (${s.rounds} rounds). ` +
    `Cinema: ${cinema.points.map((p) => `${formatDuration(p.y)} at ${formatPercent(p.x)}`).join(', ')}. ` +
    `Hand-written SQL: ${hand.points.map((p) => `${formatDuration(p.y)} at ${formatPercent(p.x)}`).join(', ')}.` +
    (refresh ? ` REFRESH MATERIALIZED VIEW: ${formatDuration(refresh.medianMs)} whatever the fraction.` : '');
  return {
    name: 'fraction.svg',
    scenarioId: s.id,
    alt: description,
    svg: lineChart({
      id: 'fraction',
      title: 'Time against the fraction of orgs refreshed',
      subtitle: 'A slice costs what it touches; a materialized view refreshes everything. Lower is faster. Both axes log scale.',
      description,
      footnote: measuredBy(results, s),
      x: { label: 'orgs refreshed, % of the table (log scale)', kind: 'log', format: formatPercent },
      y: { label: 'median wall time (log scale)', kind: 'log', format: formatDuration },
      series,
    }),
  };
}

/** The run that measured a scenario: a partial run merged into the results names its own. */
function measuredBy(results: BenchResults, s: ScenarioResult): string {
  const run = s.measuredBy ?? { command: results.command, date: results.date, scale: results.sizes.scale };
  return `Measured by ${run.command} (scale ${run.scale}) on ${run.date.slice(0, 10)}; data: bench/results.json.`;
}

function chartId(name: string): string {
  return name.replace(/\.svg$/, '');
}
