export * from './lens.js';
export * from './lens-values.js';
