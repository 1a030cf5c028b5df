import { Module } from '@nestjs/common';
import { ProjectionsController } from './projections.controller.js';

/** HTTP views of the projection graph and runs (CinemaService comes from the global CinemaModule). */
@Module({ controllers: [ProjectionsController] })
export class ProjectionsModule {}
