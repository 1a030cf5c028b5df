import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

const MAX_INTEGER = 2_147_483_647;

/**
 * After `ParseIntPipe`: org ids are PostgreSQL `integer`s. A larger number would pass the lens
 * check and then fail inside the rebuild as a 500, so it is refused here as a 400.
 */
@Injectable()
export class OrgIdPipe implements PipeTransform<number, number> {
  transform(orgId: number): number {
    if (orgId < 1 || orgId > MAX_INTEGER) {
      throw new BadRequestException(`orgId must be an integer from 1 to ${MAX_INTEGER}, got ${orgId}`);
    }
    return orgId;
  }
}
