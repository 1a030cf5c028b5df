/** Injection token of the board's resolved options. */
export const BOARD_OPTIONS = Symbol('CINEMA_BOARD_OPTIONS');
/** Injection token of the application's guard. */
export const BOARD_GUARD = Symbol('CINEMA_BOARD_GUARD');
/** Metadata key that marks a board route as an action (refresh, retry). */
export const BOARD_ACTION = 'cinema:board-action';
/** The header every board action must carry: a cross-site form cannot send it. */
export const BOARD_ACTION_HEADER = 'x-cinema-board';
