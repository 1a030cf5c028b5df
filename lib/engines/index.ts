export * from './engine.interface.js';
export * from './inline.engine.js';
