// Soak: a steady half of TARGET_RPS for a long time (SOAK_DURATION, default 2h) to surface leaks,
// slow drifts and connection churn; the SLO thresholds must hold for the whole run. Watch
// process_resident_memory_bytes on the dashboard while it runs.
import { SMOKE, TARGET_RPS, getDocument, options as baseOptions, steadyScenario, thresholds } from './lib/config.js';

const rate = SMOKE ? 5 : Math.max(1, Math.round(TARGET_RPS / 2));

export const options = baseOptions(
  {
    soak: steadyScenario(rate, SMOKE ? '10s' : __ENV.SOAK_DURATION || '2h'),
  },
  thresholds('slo'),
);

export default function () {
  getDocument();
}
