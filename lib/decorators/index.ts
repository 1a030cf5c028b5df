export * from './input.decorator.js';
export * from './projection.decorator.js';
