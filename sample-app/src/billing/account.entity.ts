import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A customer account of an organization: a table the application owns. */
@Entity('accounts')
@Index(['orgId'])
export class Account {
  @PrimaryColumn({ type: 'integer' })
  id: number;

  @Column({ name: 'org_id', type: 'integer' })
  orgId: number;

  @Column({ type: 'text' })
  name: string;
}
