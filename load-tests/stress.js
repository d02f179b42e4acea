// Stress: well past TARGET_RPS in steps, to find where latency bends and check the service sheds
// load (503 problem+json) instead of falling over. Thresholds ask for graceful degradation only.
import { arrivalScenario, getDocument, options as baseOptions, thresholds } from './lib/config.js';

export const options = baseOptions(
  {
    stress: arrivalScenario(
      [['2m', 1], ['3m', 1], ['2m', 2], ['3m', 2], ['2m', 4], ['3m', 4], ['2m', 0]],
      [['3s', 1], ['3s', 2], ['3s', 4], ['3s', 1]],
    ),
  },
  thresholds('stress'),
);

export default function () {
  getDocument();
}
