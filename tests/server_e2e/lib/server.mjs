// Starts `ferrum serve` on a free loopback port and waits until /health says ready.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const ferrum = process.env.FERRUM_BIN;
export const fixtures = process.env.FERRUM_FIXTURES;
if (!ferrum || !fixtures) {
  throw new Error('set FERRUM_BIN and FERRUM_FIXTURES (run.mjs does)');
}

export const fixture = (...parts) => path.join(fixtures, ...parts);

export async function startServer(modelPath, extraArgs = [], { name = 'server' } = {}) {
  const args = ['serve', modelPath, '--port', '0', ...extraArgs];
  const proc = spawn(ferrum, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${stderr}`)), 60_000);
    proc.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    proc.on('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${stderr}`)));
  });
  const baseURL = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; ++attempt) {
    const health = await fetch(`${baseURL}/health`).catch(() => null);
    if (health?.status === 200) break;
    if (attempt > 600) throw new Error(`${name} never became ready:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc,
    port,
    baseURL,
    url: (p) => `${baseURL}${p}`,
    log: () => stderr,
    rssKiB: () => {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
    },
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

// A raw HTTP call, for what the SDK will not send (malformed bodies, wrong methods).
export async function raw(server, method, p, { body, headers = {}, key } = {}) {
  const response = await fetch(server.url(p), {
    method,
    body,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, text, json, headers: response.headers };
}

// The value of one Prometheus sample (first match of `metric` with all `labels`), or 0.
export function metricValue(text, metric, labels = {}) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const rest = line.slice(metric.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    return Number(line.split(' ').at(-1));
  }
  return 0;
}
