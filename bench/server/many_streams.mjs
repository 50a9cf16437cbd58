#!/usr/bin/env node
// Holds N streaming chat requests open at once against `ferrum serve` and reports what the server
// pays for them: resident memory and threads (read from /proc of the server's PID), and how many
// streams completed. Every stream stays connected until its [DONE].
//   node bench/server/many_streams.mjs BASE_URL SERVER_PID [N] [MAX_TOKENS]
import { readFileSync } from 'node:fs';

const [baseURL, pid, n = '2000', maxTokens = '4'] = process.argv.slice(2);

const status = () => readFileSync(`/proc/${pid}/status`, 'utf8');
const field = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status())[1]);

async function stream(i) {
  const response = await fetch(`${baseURL}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: Number(maxTokens), stream: true }),
  });
  const text = await response.text();
  if (!text.trimEnd().endsWith('data: [DONE]')) throw new Error(`stream ${i} did not finish: ${text.slice(-200)}`);
}

const before = { rss: field('VmRSS'), threads: field('Threads') };
let peakRss = before.rss;
let peakThreads = before.threads;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, field('VmRSS'));
  peakThreads = Math.max(peakThreads, field('Threads'));
}, 10);
const started = performance.now();
const results = await Promise.allSettled(Array.from({ length: Number(n) }, (_, i) => stream(i)));
clearInterval(sampler);
const failed = results.filter((r) => r.status === 'rejected');
await new Promise((r) => setTimeout(r, 1000));
console.log(JSON.stringify({
  streams: Number(n), failed: failed.length, seconds: ((performance.now() - started) / 1000).toFixed(2),
  rss_kib: { before: before.rss, peak: peakRss, after: field('VmRSS') },
  threads: { before: before.threads, peak: peakThreads },
  first_error: failed[0] ? String(failed[0].reason) : null,
}));
