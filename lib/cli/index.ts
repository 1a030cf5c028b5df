/**
 * `cinema-nestjs/cli`: the `cinema` command line, built on `nest-commander` (an optional peer
 * dependency, needed only by applications that import this entry point).
 */
export { CinemaCommandModule } from './cinema-command.module.js';
export { runCinemaCli } from './cinema-cli.js';
