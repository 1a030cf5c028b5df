import { Injectable, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { INPUT_METADATA, PROJECTION_METADATA } from '../cinema.constants.js';
import type { InputMetadata } from '../interfaces/input-options.interface.js';
import type { ProjectionOptions } from '../interfaces/projection-options.interface.js';

/** The one place that reads what the decorators recorded. */
@Injectable()
export class CinemaMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getProjectionOptions(target: Type<unknown> | Function): ProjectionOptions | undefined {
    if (!target) return undefined;
    return this.reflector.get<ProjectionOptions | undefined>(PROJECTION_METADATA, target);
  }

  getInputMetadata(method: Function): InputMetadata | undefined {
    if (typeof method !== 'function') return undefined;
    return this.reflector.get<InputMetadata | undefined>(INPUT_METADATA, method);
  }
}
