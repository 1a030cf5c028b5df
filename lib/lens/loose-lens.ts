import type { LensReducer, LooseLens } from '../interfaces/lens.interface.js';

/** Marks a lens whose keys TypeScript cannot check against the projection (run time still does). */
export function looseLens(lens: Record<string, unknown> & { $reduce?: LensReducer }): LooseLens {
  return lens as LooseLens;
}
