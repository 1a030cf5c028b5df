export * from './projection-graph.js';
