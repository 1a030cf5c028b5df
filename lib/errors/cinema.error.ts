import { inspect } from 'node:util';
import { FindOperator } from 'typeorm';

/** Base class of every error Cinema throws. */
export class CinemaError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Renders a lens for messages: values as JSON, operators by name, the reducer as `$reduce`. */
export function describeLens(lens: Readonly<Record<string, unknown>> | undefined): string {
  if (!lens || Object.keys(lens).length === 0) return '{} (everything)';
  const parts = Object.keys(lens).map((key) => {
    const value = lens[key];
    const shown = shorten(key);
    if (typeof value === 'function') return `${shown}: <reducer>`;
    if (value instanceof FindOperator) return `${shown}: ${value.type}(${cut(show(value.value))})`;
    return `${shown}: ${cut(show(value))}`;
  });
  return `{ ${parts.join(', ')} }`;
}

/** A name or key for a message: cut short, so that a huge one is not echoed back whole. */
export function shorten(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/**
 * A lens value as the caller wrote it: strings quoted, numbers as they are (NaN and Infinity
 * included), bigints with their `n`, dates as ISO text, anything else as Node inspects it.
 */
function show(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
      return `${value}n`;
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'function':
      return `<function ${value.name || 'anonymous'}>`;
    case 'symbol':
      return value.toString();
  }
  if (value === null) return 'null';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (Array.isArray(value)) {
    const shown = value.slice(0, 20).map(show);
    return `[${shown.join(', ')}${value.length > 20 ? `, ... ${value.length - 20} more` : ''}]`;
  }
  if (value instanceof FindOperator) return `${value.type}(${show(value.value)})`;
  return inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 60 });
}

function cut(text: string): string {
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
