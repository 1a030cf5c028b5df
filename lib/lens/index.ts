export * from './lens.js';
export * from './lens-values.js';
export * from './lens-key.js';
