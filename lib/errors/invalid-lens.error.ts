import { CinemaError, describeLens, shorten } from './cinema.error.js';

/** A lens key or value cannot be applied. Raised before anything is deleted. */
export class InvalidLensError extends CinemaError {
  constructor(
    readonly projection: string,
    readonly lens: Readonly<Record<string, unknown>>,
    readonly key: string | undefined,
    reason: string,
  ) {
    super(`Invalid lens ${describeLens(lens)} for ${projection}` + `${key === undefined ? '' : ` (key "${shorten(key)}")`}: ${reason}`);
  }
}

/** A lens key that no projection of the run exposes as a column. */
export class UnknownLensKeyError extends InvalidLensError {
  constructor(
    projection: string,
    lens: Readonly<Record<string, unknown>>,
    key: string,
    readonly available: readonly string[],
  ) {
    const hint = closest(key, available);
    super(
      projection,
      lens,
      key,
      `no projection in its graph has a column "${shorten(key)}"` +
        `${hint ? ` (did you mean "${hint}"?)` : ''}. Lens keys it can apply: ${available.join(', ') || 'none'}.`,
    );
  }
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = levenshtein(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}
