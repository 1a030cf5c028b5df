/**
 * A minimal SVG writer: elements as strings, every attribute and text escaped. The charts of
 * docs/BENCHMARKS.md are drawn with it, so the bench needs no charting dependency.
 */

export type Attributes = Record<string, string | number | undefined>;

/** Text and attribute values with `&`, `<`, `>` and quotes escaped. */
export function escapeXml(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** One element: `children` are already-written markup; no children gives an empty element `<x/>`. */
export function element(name: string, attributes: Attributes = {}, children: readonly string[] = []): string {
  const attrs = renderAttributes(attributes);
  return children.length ? `<${name}${attrs}>${children.join('')}</${name}>` : `<${name}${attrs}/>`;
}

/** An element holding plain text (`<text>`, `<title>`), escaped here. */
export function textElement(name: string, content: string, attributes: Attributes = {}): string {
  return `<${name}${renderAttributes(attributes)}>${escapeXml(content)}</${name}>`;
}

/** A `<text>` element. */
export function text(content: string, attributes: Attributes = {}): string {
  return textElement('text', content, attributes);
}

function renderAttributes(attributes: Attributes): string {
  return Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}="${escapeXml(typeof value === 'number' ? round(value) : value!)}"`)
    .join('');
}

/** Coordinates to two decimals: enough for a pixel grid, and stable output for the diff. */
export function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export interface SvgDocument {
  width: number;
  height: number;
  /** Read by screen readers (`<title>`, `aria-labelledby`) and shown as a tooltip. */
  title: string;
  /** A sentence or two on what the picture shows (`<desc>`). */
  description: string;
  /** Used for the ids of the title and description: unique within a page that inlines several charts. */
  id: string;
  body: readonly string[];
}

/**
 * A standalone SVG file. The white background keeps the dark text readable where a page has a
 * dark theme (an image embedded in Markdown keeps its own colours).
 */
export function svgDocument(doc: SvgDocument): string {
  const titleId = `${doc.id}-title`;
  const descId = `${doc.id}-desc`;
  const root = element(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      width: doc.width,
      height: doc.height,
      viewBox: `0 0 ${doc.width} ${doc.height}`,
      role: 'img',
      'aria-labelledby': `${titleId} ${descId}`,
      'font-family': FONT,
      'font-size': 12,
    },
    [
      textElement('title', doc.title, { id: titleId }),
      textElement('desc', doc.description, { id: descId }),
      element('rect', { width: doc.width, height: doc.height, fill: '#ffffff' }),
      ...doc.body,
    ],
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root}\n`;
}

export const FONT = 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif';

/** Dark enough on white for text (contrast above 4.5:1). */
export const INK = '#1f2328';
export const MUTED = '#57606a';
export const GRID = '#d0d7de';

/**
 * Okabe and Ito's colour-blind-safe palette, the darker half first; the line chart also varies
 * the marker shape, so no series is told apart by colour alone.
 */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'];
