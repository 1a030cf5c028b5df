export * from './cinema-options.interface.js';
export * from './derivation-context.interface.js';
export * from './graph.interface.js';
export * from './input-options.interface.js';
export * from './lens.interface.js';
export * from './projection-options.interface.js';
export * from './run.interface.js';
export * from './queue-options.interface.js';
