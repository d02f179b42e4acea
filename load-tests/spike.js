// Spike: from a quiet baseline to 8x TARGET_RPS in seconds and back; the service must absorb or
// shed the burst and recover to SLO latency once it passes (the recovery scenario's thresholds).
import { ERROR_RATE, SLO, SMOKE, arrivalScenario, getDocument, options as baseOptions, thresholds } from './lib/config.js';

const spikeFull = [['1m', 0.25], ['10s', 8], ['1m', 8], ['10s', 0.25], ['1m', 0.25]];
const spikeSmoke = [['3s', 0.5], ['2s', 4], ['3s', 4], ['2s', 0.5]];

export const options = baseOptions(
  {
    spike: arrivalScenario(spikeFull, spikeSmoke),
    // After the spike: a steady quarter of the target, which must be back within the SLOs.
    recovery: arrivalScenario([['2m', 0.25]], [['5s', 0.5]], { startTime: SMOKE ? '11s' : '3m40s' }),
  },
  thresholds('stress', {
    [`http_req_duration{scenario:recovery}`]: [`p(95)<${SLO.p95Ms}`, `p(99)<${SLO.p99Ms}`],
    [`http_req_failed{scenario:recovery}`]: [`rate<${ERROR_RATE}`],
  }),
);

export default function () {
  getDocument();
}
