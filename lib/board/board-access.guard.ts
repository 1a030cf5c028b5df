import { ForbiddenException, Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';
import { BOARD_ACTION, BOARD_ACTION_HEADER, BOARD_GUARD, BOARD_OPTIONS } from './board.constants.js';
import type { ResolvedBoardOptions } from './board-options.interface.js';

/**
 * Every board request passes the application's guard first. An action (refresh, retry) must
 * also pass `canAct` and carry the board's header as JSON, which a cross-site form cannot send.
 */
@Injectable()
export class BoardAccessGuard implements CanActivate {
  constructor(
    @Inject(BOARD_GUARD) private readonly guard: CanActivate,
    @Inject(BOARD_OPTIONS) private readonly options: ResolvedBoardOptions,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const admitted = this.guard.canActivate(context);
    if (!(isObservable(admitted) ? await lastValueFrom(admitted) : await admitted)) return false;
    if (!this.reflector.get<boolean>(BOARD_ACTION, context.getHandler())) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>();
    const type = String(request.headers['content-type'] ?? '');
    if (request.headers[BOARD_ACTION_HEADER] !== '1' || !type.startsWith('application/json')) {
      throw new ForbiddenException(`A board action must be sent by the board: JSON with the ${BOARD_ACTION_HEADER} header`);
    }
    if (!(await this.options.canAct(request))) {
      throw new ForbiddenException('The board is read-only for this request: its canAct option does not allow refreshes or retries');
    }
    return true;
  }
}
