import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Req,
  SetMetadata,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { CinemaExceptionFilter, CinemaService, type Lens } from '../index.js';
import { BoardAccessGuard } from './board-access.guard.js';
import type { BoardAssetFiles } from './board.assets.js';
import { BOARD_ACTION, BOARD_OPTIONS } from './board.constants.js';
import type { ResolvedBoardOptions } from './board-options.interface.js';
import { boardPage } from './board-page.js';
import type { BoardState } from './board-state.interface.js';
import { BoardStateReader } from './board.state.js';

/** Injection token of the board's browser files, read once at startup. */
export const BOARD_ASSETS = Symbol('CINEMA_BOARD_ASSETS');

const PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'self'; form-action 'none'; frame-ancestors 'none'";

interface RefreshBody {
  projection?: unknown;
  lens?: unknown;
  engine?: unknown;
}

type BoardRequest = { originalUrl?: string; url?: string };

/** The board's page, its browser files and its JSON API, all behind the application's guard. */
@Controller()
@UseGuards(BoardAccessGuard)
@UseFilters(CinemaExceptionFilter)
export class CinemaBoardController {
  constructor(
    private readonly cinema: CinemaService,
    private readonly reader: BoardStateReader,
    @Inject(BOARD_OPTIONS) private readonly options: ResolvedBoardOptions,
    @Inject(BOARD_ASSETS) private readonly assets: BoardAssetFiles,
  ) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('content-security-policy', PAGE_POLICY)
  @Header('x-content-type-options', 'nosniff')
  @Header('cache-control', 'no-store')
  page(@Req() request: BoardRequest): string {
    const path = (request.originalUrl ?? request.url ?? '/').split(/[?#]/)[0];
    return boardPage(path.endsWith('/') ? path : `${path}/`);
  }

  @Get('assets/board.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('x-content-type-options', 'nosniff')
  @Header('cache-control', 'private, max-age=300')
  script(): string {
    return this.assets.script;
  }

  @Get('assets/board.css')
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('x-content-type-options', 'nosniff')
  @Header('cache-control', 'private, max-age=300')
  style(): string {
    return this.assets.style;
  }

  @Get('assets/mermaid.js')
  @Header('content-type', 'text/javascript; charset=utf-8')
  @Header('x-content-type-options', 'nosniff')
  @Header('cache-control', 'private, max-age=3600')
  mermaid(): string {
    return this.assets.mermaid;
  }

  @Get('api/state')
  @Header('cache-control', 'no-store')
  async state(@Req() request: BoardRequest): Promise<BoardState> {
    return this.reader.state(await this.options.canAct(request));
  }

  /** Starts a run of one projection (and what it reads) under an optional lens; answers with its id at once. */
  @Post('api/refresh')
  @HttpCode(202)
  @SetMetadata(BOARD_ACTION, true)
  async refresh(@Body() body: RefreshBody): Promise<{ id: string; projection: string; status: string }> {
    const { projection, lens = {}, engine } = body ?? {};
    if (typeof projection !== 'string') throw new BadRequestException('projection: give the name of a projection');
    const target = this.reader.target(projection);
    if (!target) throw new NotFoundException(`No projection is named "${projection.slice(0, 100)}"`);
    if (lens === null || typeof lens !== 'object' || Array.isArray(lens)) {
      throw new BadRequestException('lens: give an object of lens keys, e.g. { "orgId": 42 }');
    }
    if (engine !== undefined && engine !== 'inline' && engine !== 'queue') throw new BadRequestException("engine: 'inline' or 'queue'");
    const everything = Object.keys(lens).length === 0;
    const run = await this.cinema.refresh([target], lens as Lens<unknown>, {
      async: true,
      ...(engine ? { engine } : {}),
      // Rebuilding a whole projection from the board is a deliberate click, not a forgotten lens.
      ...(everything ? { allowEmptyLens: true } : {}),
    });
    run.result.catch(() => undefined); // the board shows the outcome; nobody awaits it here
    return { id: run.id, projection: run.projection, status: run.status };
  }

  /** Takes up a failed queued run again from the projections that failed. */
  @Post('api/runs/:id/retry')
  @HttpCode(202)
  @SetMetadata(BOARD_ACTION, true)
  async retry(@Param('id') id: string): Promise<{ id: string; status: string }> {
    const run = await this.cinema.retryRun(id);
    run.result.catch(() => undefined);
    return { id: run.id, status: run.status };
  }
}
