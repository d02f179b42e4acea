// Chaos: steady load while the stand-in upstream injects faults (scripts/load-test chaos starts it
// with FAULT_ERROR_RATE, FAULT_RESET_RATE, FAULT_LATENCY_MS, ... set; see docs/contracts.md).
// The service must never pass on a wrong document, must answer errors as problem+json, and must
// keep the error share below the upstream's own failure share and latency bounded (retries,
// budget and adaptive throttle doing their job). Thresholds: thresholds('chaos') in lib/config.js.
import { TARGET_RPS, SMOKE, getDocument, options as baseOptions, steadyScenario, thresholds } from './lib/config.js';

const rate = SMOKE ? 20 : Math.max(1, Math.round(TARGET_RPS / 2));

export const options = baseOptions(
  {
    chaos: steadyScenario(rate, SMOKE ? '15s' : __ENV.CHAOS_DURATION || '10m'),
  },
  thresholds('chaos'),
);

export default function () {
  getDocument();
}
