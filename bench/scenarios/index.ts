import type { Scenario } from '../scenario.interface.js';
import { captureCatchUpScenario } from './capture-catch-up.scenario.js';
import { captureOverheadScenario } from './capture-overhead.scenario.js';
import { captureStalenessScenario } from './capture-staleness.scenario.js';
import { diffScenario } from './diff.scenario.js';
import { fractionScenario } from './fraction.scenario.js';
import { fullRebuildScenario } from './full-rebuild.scenario.js';
import { oneOrgSliceScenario } from './one-org-slice.scenario.js';
import { overheadScenario } from './overhead.scenario.js';
import { queueScenario } from './queue.scenario.js';
import { schedulingScenario } from './scheduling.scenario.js';
import { streamedScenario } from './streamed.scenario.js';
import { telemetryScenario } from './telemetry.scenario.js';

/** The issues' scenarios, in their order. */
export const SCENARIOS: readonly Scenario[] = [
  oneOrgSliceScenario,
  fullRebuildScenario,
  streamedScenario,
  schedulingScenario,
  overheadScenario,
  queueScenario,
  captureOverheadScenario,
  captureStalenessScenario,
  captureCatchUpScenario,
  fractionScenario,
  diffScenario,
  telemetryScenario,
];
