import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

export type BoardRole = 'viewer' | 'operator';

/** The request as the guard leaves it: who signed in to the board. */
export interface BoardRequest {
  headers: Record<string, string | string[] | undefined>;
  boardRole?: BoardRole;
}

/**
 * HTTP Basic authentication for the Cinema board: user `viewer` may look, user `operator` may also
 * refresh and retry (the board's `canAct`). A real application would put its own sign-in here.
 */
@Injectable()
export class BoardAuthGuard implements CanActivate {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<BoardRequest>();
    const role = this.authenticate(request.headers.authorization);
    if (!role) {
      // Asks the browser for credentials; Nest answers 401 after this.
      http
        .getResponse<{ setHeader(name: string, value: string): void }>()
        .setHeader('WWW-Authenticate', 'Basic realm="Cinema board", charset="UTF-8"');
      throw new UnauthorizedException('Sign in to the Cinema board');
    }
    request.boardRole = role;
    return true;
  }

  private authenticate(header: string | string[] | undefined): BoardRole | undefined {
    if (typeof header !== 'string' || !header.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const [user, password] = [decoded.slice(0, colon), decoded.slice(colon + 1)];
    const passwords = this.config.boardPasswords;
    if (!passwords || (user !== 'viewer' && user !== 'operator')) return undefined;
    return sameSecret(password, passwords[user]) ? user : undefined;
  }
}

/** Compares digests in constant time, so the answer's timing says nothing about the password. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return expected.length > 0 && timingSafeEqual(digest(given), digest(expected));
}

/** The board's `canAct`: only the operator refreshes and retries. */
export const operatorMayAct = (request: BoardRequest): boolean => request.boardRole === 'operator';
