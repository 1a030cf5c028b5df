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
    if (value instanceof FindOperator) return `${shown}: ${value.type}(${safeJson(value.value)})`;
    return `${shown}: ${safeJson(value)}`;
  });
  return `{ ${parts.join(', ')} }`;
}

/** A name or key for a message: cut short, so that a huge one is not echoed back whole. */
export function shorten(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function safeJson(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
    if (text === undefined) return String(value);
    return text.length > 120 ? `${text.slice(0, 117)}...` : text;
  } catch {
    return String(value);
  }
}
