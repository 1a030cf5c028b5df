import { CinemaError, shorten } from './cinema.error.js';

/** A projection selector (`OrgReceivables+`, `tag:billing`, ...) that cannot be parsed or matches a name Cinema does not know. */
export class InvalidSelectorError extends CinemaError {
  constructor(
    readonly selector: string,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`Selector "${shorten(selector, 120)}": ${reason}. ${fix}`);
  }
}
