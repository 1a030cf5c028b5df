import { Param, ParseIntPipe } from '@nestjs/common';
import { OrgIdPipe } from './org-id.pipe.js';

/** The `:orgId` route parameter as a PostgreSQL integer; anything else is a 400. */
export const OrgId = (): ParameterDecorator => Param('orgId', ParseIntPipe, OrgIdPipe);
