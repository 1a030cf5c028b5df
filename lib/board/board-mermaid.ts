import type { BoardProjection } from './board-state.interface.js';

/** Fill by last outcome, border by freshness. */
const FILL: Record<string, string> = {
  succeeded: 'fill:#dcf2e0,stroke:#2e7d32,color:#123d17',
  failed: 'fill:#fbdada,stroke:#c62828,color:#5c1010',
  running: 'fill:#dbe8fb,stroke:#1565c0,color:#0d2f5c',
  pending: 'fill:#eef1f5,stroke:#6b7a90,color:#1f2937',
  skipped: 'fill:#f3eee4,stroke:#8d6e63,color:#3e2723',
  none: 'fill:#f4f4f5,stroke:#9ca3af,color:#374151',
};
const BORDER: Record<string, string> = {
  pass: '',
  warn: ',stroke:#d97706,stroke-width:4px',
  error: ',stroke:#b91c1c,stroke-width:4px,stroke-dasharray:6 3',
};

/** A Mermaid node id: the name with anything but letters, digits and `_` replaced. */
export function mermaidId(name: string): string {
  return `p_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The graph as a Mermaid flowchart: materialized projections as boxes, virtual ones as stadiums,
 * each filled by its last outcome and bordered by its freshness (amber past `warnAfter`, red and
 * dashed past `errorAfter`). Labels are the projection names and a short status line.
 */
export function boardMermaid(projections: readonly BoardProjection[]): string {
  const lines = ['flowchart LR'];
  const classes = new Map<string, string[]>();
  for (const projection of projections) {
    const id = mermaidId(projection.name);
    const label = [projection.name, ...statusLine(projection)].map(escapeLabel).join('<br/>');
    lines.push(projection.virtual ? `  ${id}(["${label}"])` : `  ${id}["${label}"]`);
    const outcome = projection.last?.status ?? 'none';
    const freshness = projection.freshness && 'status' in projection.freshness ? projection.freshness.status : 'pass';
    const className = `${outcome}_${freshness}`;
    classes.set(className, [...(classes.get(className) ?? []), id]);
  }
  for (const projection of projections) {
    for (const input of projection.inputs) lines.push(`  ${mermaidId(input)} --> ${mermaidId(projection.name)}`);
  }
  for (const [className, ids] of classes) {
    const [outcome, freshness] = className.split('_');
    lines.push(`  classDef ${className} ${FILL[outcome] ?? FILL.none}${BORDER[freshness] ?? ''}`);
    lines.push(`  class ${ids.join(',')} ${className}`);
  }
  return lines.join('\n');
}

function statusLine(projection: BoardProjection): string[] {
  const parts: string[] = [];
  if (projection.last)
    parts.push(projection.last.status + (projection.last.durationMs !== undefined ? ` ${projection.last.durationMs} ms` : ''));
  const freshness = projection.freshness;
  if (freshness && 'status' in freshness && freshness.pendingChanges > 0) parts.push(`${freshness.pendingChanges} pending`);
  return parts.length > 0 ? [parts.join(' · ')] : [];
}

/** Label text inside `"..."`: Mermaid's entity codes for the characters that would end or break it. */
function escapeLabel(text: string): string {
  return text.replace(/[#"<>&]/g, (char) => `#${char.charCodeAt(0)};`);
}
