import { Injectable, type Type } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { CinemaMetadataAccessor } from './cinema-metadata.accessor.js';
import { InvalidProjectionError } from '../errors/invalid-projection.error.js';
import type { InputMode } from '../interfaces/input-options.interface.js';
import type { ProjectionOptions } from '../interfaces/projection-options.interface.js';

export interface DiscoveredDerivation {
  method: string;
  inputs: Type<unknown>[];
  mode: InputMode;
  dateStrings: boolean;
}

export interface DiscoveredProjection {
  target: Type<unknown>;
  instance: any;
  options: ProjectionOptions;
  derivations: DiscoveredDerivation[];
  hasOutput: boolean;
}

/** Finds the providers decorated with `@Projection` and their `@Input` methods. Only finds. */
@Injectable()
export class CinemaExplorer {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: CinemaMetadataAccessor,
  ) {}

  explore(): { projections: DiscoveredProjection[] } {
    const projections = new Map<Type<unknown>, DiscoveredProjection>();
    for (const wrapper of this.discovery.getProviders()) {
      const { instance, metatype } = wrapper;
      if (!instance || !metatype || projections.has(metatype as Type<unknown>)) continue;
      const options = this.accessor.getProjectionOptions(metatype);
      if (!options) continue;
      const target = metatype as Type<unknown>;
      const prototype = Object.getPrototypeOf(instance);
      const derivations: DiscoveredDerivation[] = [];
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const input = this.accessor.getInputMetadata(prototype[method]);
        if (!input) continue;
        const resolved = input.typeFn();
        const inputs = (Array.isArray(resolved) ? resolved : [resolved]) as (Type<unknown> | undefined)[];
        if ((inputs.length === 0 && !input.source) || inputs.some((type) => typeof type !== 'function')) {
          throw new InvalidProjectionError(
            target.name,
            `@Input() of ${target.name}.${method}() resolved to ${inputs.length === 0 ? 'nothing' : 'undefined'}`,
            'Check for a circular import between the two files, and that the thunk returns the class: @Input(() => Other).',
          );
        }
        if (input.options.dateStrings && input.options.as === 'query') {
          throw new InvalidProjectionError(
            target.name,
            `@Input() of ${target.name}.${method}() asks for dateStrings with as: 'query', whose rows never reach Node`,
            "Drop dateStrings: a query keeps PostgreSQL's values exactly; or read the input with as: 'stream'.",
          );
        }
        derivations.push({ method, inputs: inputs as Type<unknown>[], mode: input.options.as, dateStrings: input.options.dateStrings });
      }
      projections.set(target, {
        target,
        instance,
        options,
        derivations,
        hasOutput: typeof prototype.output === 'function',
      });
    }
    return { projections: [...projections.values()] };
  }
}
