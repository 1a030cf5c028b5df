import { cpus, release, totalmem, type as osType } from 'node:os';
import type { MachineInfo, PostgresInfo } from './results.interface.js';
import { withClient } from '../sample-app/src/database/postgres-server.js';

/** Settings that move the numbers; the report prints them next to the version. */
const SETTINGS = [
  'shared_buffers',
  'work_mem',
  'maintenance_work_mem',
  'max_parallel_workers_per_gather',
  'effective_cache_size',
  'fsync',
  'synchronous_commit',
  'full_page_writes',
  'jit',
];

export function machineInfo(): MachineInfo {
  const cores = cpus();
  return {
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
  };
}

export async function postgresInfo(url: string, embedded: boolean): Promise<PostgresInfo> {
  return withClient(url, async (client) => {
    const {
      rows: [{ version }],
    } = await client.query<{ version: string }>('SELECT version()');
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name = ANY($1) ORDER BY name`,
      [SETTINGS],
    );
    return { version, embedded, settings: Object.fromEntries(rows.map((row) => [row.name, row.setting])) };
  });
}
