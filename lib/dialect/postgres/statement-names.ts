import { createHash } from 'node:crypto';

/** Distinct statement texts remembered; past it, new texts are sent unnamed. */
const TRACKED = 2_000;
/** Named statements at most, per process (each connection prepares those it runs). */
const NAMED = 500;

/**
 * Names for the statements a write sends again and again (a slice's `DELETE` and `INSERT ...
 * SELECT` differ between refreshes only in their parameters), so that each connection has
 * PostgreSQL parse and analyze them once, and after five executions plan them once (its generic
 * plan, when that costs no more than the custom ones did). A text is named the second time it is
 * seen, so a derivation that writes its values into the SQL itself (a new text every time) never
 * leaves statements used once on the server; and only so many are named per process.
 */
export class StatementNames {
  /** Text → its name, or `null` when it was seen once. */
  private readonly seen = new Map<string, string | null>();
  private named = 0;

  nameOf(text: string): string | undefined {
    const known = this.seen.get(text);
    if (known) return known;
    if (known === null) {
      if (this.named >= NAMED) return undefined;
      const name = `cinema_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      this.named++;
      this.seen.set(text, name);
      return name;
    }
    if (this.seen.size < TRACKED) this.seen.set(text, null);
    return undefined;
  }
}

/** The process's statement names (the pg driver keeps each connection's prepared ones). */
export const statementNames = new StatementNames();
