// Smoke: a handful of virtual users for a short while. Every endpoint answers, documents are sound,
// and the SLO thresholds hold. PR CI and `make load-test` run this.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { BASE_URL, SMOKE, getDocument, options as baseOptions, thresholds } from './lib/config.js';

export const options = baseOptions(
  {
    documents: {
      executor: 'constant-vus',
      vus: SMOKE ? 2 : 5,
      duration: SMOKE ? '10s' : '1m',
      exec: 'documents',
    },
    endpoints: {
      executor: 'per-vu-iterations',
      vus: 1,
      iterations: SMOKE ? 3 : 10,
      exec: 'endpoints',
    },
  },
  thresholds('slo', { 'checks{scenario:endpoints}': ['rate==1'] }),
);

export function documents() {
  getDocument();
  sleep(0.05);
}

const METRICS = ['document_proxy_http_request_duration_seconds', 'document_proxy_build_info'];

export function endpoints() {
  const tags = (name) => ({ tags: { name } });
  check(http.get(`${BASE_URL}/healthz`, tags('GET /healthz')), {
    'healthz: 200': (r) => r.status === 200,
  });
  check(http.get(`${BASE_URL}/readyz`, tags('GET /readyz')), {
    'readyz: 200': (r) => r.status === 200,
  });
  check(http.get(`${BASE_URL}/metrics`, tags('GET /metrics')), {
    'metrics: 200': (r) => r.status === 200,
    'metrics: exposes the contract metrics': (r) => METRICS.every((m) => String(r.body).includes(m)),
  });
  check(http.get(`${BASE_URL}/openapi.json`, tags('GET /openapi.json')), {
    'openapi.json: 200 JSON': (r) => r.status === 200 && r.json('openapi') !== undefined,
  });
  check(http.head(`${BASE_URL}/1`, tags('HEAD /{id}')), {
    'HEAD /{id}: 200 without a body': (r) => r.status === 200 && (r.body || '').length === 0,
  });
  const invalid = http.get(`${BASE_URL}/not-a-number`, {
    tags: { name: 'GET /{invalid}' },
    responseCallback: http.expectedStatuses({ min: 400, max: 499 }),
  });
  check(invalid, {
    'invalid id: 4xx problem+json': (r) =>
      r.status >= 400 && r.status < 500 &&
      (r.headers['Content-Type'] || '').startsWith('application/problem+json'),
  });
  sleep(0.5);
}
