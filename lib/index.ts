export { CinemaModule } from './cinema.module.js';
export { CinemaService } from './cinema.service.js';
export { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
export * from './decorators/index.js';
export * from './errors/index.js';
export * from './interfaces/index.js';
export { looseLens } from './lens/loose-lens.js';
export { CinemaQueueMigration1764200000000 } from './engines/queue/queue.schema.js';
export { CinemaExceptionFilter } from './http/cinema-exception.filter.js';
