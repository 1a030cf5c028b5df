export * from './input.decorator.js';
export * from './projection.decorator.js';
export * from './source.decorator.js';
