export { CinemaError } from './cinema.error.js';
export * from './invalid-lens.error.js';
export * from './invalid-options.error.js';
export * from './invalid-projection.error.js';
export * from './invalid-row.error.js';
export * from './missing-input.error.js';
export * from './projection-cycle.error.js';
export * from './projection-failed.error.js';
export * from './unregistered-projection.error.js';
