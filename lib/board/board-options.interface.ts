import type { CanActivate, ModuleMetadata, Type } from '@nestjs/common';

/** Decides whether a request that passed the board's guard may also start a refresh or a retry. */
export type CinemaBoardActionCheck = (request: any) => boolean | Promise<boolean>;

/** Options of `CinemaBoardModule.forRoot()`. */
export interface CinemaBoardOptions {
  /**
   * Where the board is mounted (under the application's global prefix, if it has one).
   * @default 'cinema'
   */
  path?: string;
  /**
   * The application's guard, asked for every request to the board (its page, its assets and its
   * API): a guard class (built by Nest with its dependencies from `imports`) or an instance.
   * Required: an operations page is never public by accident. A guard that throws decides the
   * answer (for example 401 with `WWW-Authenticate`); one that returns `false` gives 403.
   */
  guard: Type<CanActivate> | CanActivate;
  /**
   * Who may refresh a projection or retry a failed queued run from the board: `true` for every
   * request the guard lets in, or a check of the request (for example of the user the guard
   * attached). Without it the board is read-only and its action endpoints answer 403.
   * @default false
   */
  canAct?: boolean | CinemaBoardActionCheck;
  /**
   * Recent runs listed (the newest of this process's runs and of the queue's, each).
   * @default 25
   */
  runs?: number;
  /** Modules that export what the guard class needs. */
  imports?: ModuleMetadata['imports'];
}

/** The options with their defaults, validated once. */
export interface ResolvedBoardOptions {
  path: string;
  guard: Type<CanActivate> | CanActivate;
  canAct: CinemaBoardActionCheck;
  runs: number;
}
