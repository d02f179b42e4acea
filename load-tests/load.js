// Load: ramping arrival rate up to TARGET_RPS, held there; the SLO thresholds must hold throughout.
// CI runs the full profile on main (with a rate the runner can sustain) and keeps the summary.
import { arrivalScenario, getDocument, options as baseOptions, thresholds } from './lib/config.js';

export const options = baseOptions(
  {
    load: arrivalScenario(
      [['2m', 0.5], ['3m', 1], ['10m', 1], ['1m', 0]],
      [['5s', 0.5], ['5s', 1], ['5s', 1]],
    ),
  },
  thresholds('slo'),
);

export default function () {
  getDocument();
}
