import { describe, expect, it } from 'vitest';
import { StatementNames } from '../../lib/dialect/postgres/statement-names.js';

describe('statement names', () => {
  it('names a text the second time it is seen, with the same name every time after', () => {
    const names = new StatementNames();
    const text = 'DELETE FROM "t" WHERE "org_id" = $1';
    expect(names.nameOf(text)).toBeUndefined();
    const name = names.nameOf(text);
    expect(name).toMatch(/^cinema_[0-9a-f]{24}$/);
    expect(names.nameOf(text)).toBe(name);
    expect(names.nameOf(`${text} `)).toBeUndefined();
  });

  it('names at most 500 texts, and stops remembering texts past 2,000', () => {
    const names = new StatementNames();
    const texts = Array.from({ length: 2_100 }, (_, i) => `SELECT ${i}`);
    for (const text of texts) names.nameOf(text);
    const named = texts.map((text) => names.nameOf(text)).filter((name) => name !== undefined);
    expect(named).toHaveLength(500);
    expect(new Set(named).size).toBe(500);
    // The texts past the first 2,000 were never remembered: still unnamed on their second sighting.
    expect(names.nameOf(texts[2_050])).toBeUndefined();
  });
});
