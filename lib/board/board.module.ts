import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { RouterModule } from '@nestjs/core';
import { BoardAccessGuard } from './board-access.guard.js';
import { readBoardAssets } from './board.assets.js';
import { BOARD_GUARD, BOARD_OPTIONS } from './board.constants.js';
import { BOARD_ASSETS, CinemaBoardController } from './board.controller.js';
import type { CinemaBoardOptions } from './board-options.interface.js';
import { resolveBoardOptions } from './board-options.js';
import { BoardStateReader } from './board.state.js';

/**
 * A page in the browser for operators: the graph drawn with Mermaid (served by the application,
 * no CDN), each projection coloured by its last outcome and freshness; recent runs with a
 * timeline of their projections and the critical path; refresh and retry buttons when `canAct`
 * allows. Needs `CinemaModule` and an HTTP platform; every request passes the given guard.
 *
 * @example
 * CinemaBoardModule.forRoot({ path: 'cinema', guard: AdminGuard, canAct: (req) => req.user?.role === 'operator' })
 */
@Module({})
export class CinemaBoardModule {
  static forRoot(options: CinemaBoardOptions): DynamicModule {
    const resolved = resolveBoardOptions(options);
    const guard: Provider =
      typeof resolved.guard === 'function'
        ? { provide: BOARD_GUARD, useClass: resolved.guard }
        : { provide: BOARD_GUARD, useValue: resolved.guard };
    return {
      module: CinemaBoardModule,
      imports: [...(options.imports ?? []), RouterModule.register([{ path: resolved.path, module: CinemaBoardModule }])],
      controllers: [CinemaBoardController],
      providers: [
        { provide: BOARD_OPTIONS, useValue: resolved },
        // Read at startup, so that a missing Mermaid fails the boot, not the first page view.
        { provide: BOARD_ASSETS, useFactory: readBoardAssets },
        guard,
        BoardAccessGuard,
        BoardStateReader,
      ],
    };
  }
}
