import { applyDecorators, Injectable, SetMetadata } from '@nestjs/common';
import { PROJECTION_METADATA } from '../cinema.constants.js';
import type { ProjectionOptions } from '../interfaces/projection-options.interface.js';

/**
 * Marks a class as a projection: a TypeORM entity whose rows Cinema derives from its `@Input`s,
 * or, with `virtual: true`, a query (`output()`) that other projections read. The class also
 * becomes an injectable provider; register it with `CinemaModule.forFeature([...])`.
 */
export function Projection(options: ProjectionOptions = {}): ClassDecorator {
  return applyDecorators(Injectable(), SetMetadata(PROJECTION_METADATA, { ...options }));
}
