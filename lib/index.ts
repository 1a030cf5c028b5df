export { CinemaModule } from './cinema.module.js';
export { CinemaService } from './cinema.service.js';
export { CINEMA_MODULE_OPTIONS } from './cinema.constants.js';
export * from './decorators/index.js';
export * from './errors/index.js';
export * from './interfaces/index.js';
export { looseLens } from './lens/loose-lens.js';
export { CinemaQueueMigration1764200000000 } from './engines/queue/queue.schema.js';
export { CinemaExceptionFilter } from './http/cinema-exception.filter.js';
export { CinemaQueueMigration1764300000000 } from './engines/queue/queue.schema.v2.js';
export { CinemaQueueMigration1764700000000 } from './engines/queue/queue.schema.v3.js';
export { CinemaQueueMigration1765000000000 } from './engines/queue/queue.schema.v4.js';
export { CINEMA_QUEUE_MIGRATIONS } from './engines/queue/queue.migrations.js';
export { bootstrapCinemaWorker, type CinemaWorker, type CinemaWorkerOptions } from './cinema-worker.js';
export {
  CinemaCaptureMigration1764400000000,
  CinemaCaptureMigration1764600000000,
  CinemaCaptureMigration1764800000000,
  CINEMA_CAPTURE_MIGRATIONS,
} from './capture/capture.schema.js';
export { installCapture, removeCapture, captureMigration } from './capture/install-capture.js';
export { installLogicalCapture, removeLogicalCapture, type LogicalCaptureNames } from './capture/logical/install-logical-capture.js';
export type { CaptureStatements } from './capture/capture-triggers.js';
export { CinemaHealthIndicator } from './capture/cinema-health.indicator.js';
export { INSTRUMENTATION_SCOPE } from './telemetry/run-telemetry.js';
