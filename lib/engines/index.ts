export * from './inline.engine.js';
export * from '../model/projection.model.js';
export * from '../read/slice.queries.js';
