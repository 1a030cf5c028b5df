export * from './inline.engine.js';
export * from './projection.model.js';
export * from './slice.queries.js';
