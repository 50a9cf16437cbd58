// Load: 256 concurrent streaming chat requests through the official client finish with zero
// errors, and the server's resident memory returns to where it started.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import { fixture, metricValue, raw, startServer } from './lib/server.mjs';

const CONCURRENCY = 256;
let server;
let client;

before(async () => {
  server = await startServer(fixture('stories260K', 'stories260K.gguf'), [
    '--chat-template', fixture('chat-templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'),
  ]);
  client = new OpenAI({ apiKey: 'none', baseURL: `${server.baseURL}/v1`, maxRetries: 0, timeout: 300_000 });
});
after(() => server?.stop());

const settle = () => new Promise((r) => setTimeout(r, 1500));

async function streamOne(i) {
  const stream = await client.chat.completions.create({
    model: 'stories260K',
    messages: [{ role: 'user', content: `Story number ${i % 8}, please.` }],
    max_tokens: 12,
    temperature: 0.8,
    seed: i,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    if (chunk.usage) usage = chunk.usage;
  }
  return { text, usage, finish };
}

async function burst() {
  const started = Date.now();
  const results = await Promise.allSettled(Array.from({ length: CONCURRENCY }, (_, i) => streamOne(i)));
  return { results, seconds: (Date.now() - started) / 1000 };
}

test(`${CONCURRENCY} concurrent streams: zero errors, memory back to its starting level`, async () => {
  // Warm up (allocator arenas, the prefix cache, one burst's worth of buffers) before the baseline.
  await streamOne(0);
  await burst();
  await settle();
  const baseline = server.rssKiB();

  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rssKiB())), 20);
  const { results, seconds } = await burst();
  clearInterval(sampler);
  const failures = results.filter((r) => r.status === 'rejected');
  assert.equal(failures.length, 0, failures.slice(0, 3).map((f) => String(f.reason)).join('\n'));
  for (const { value } of results) {
    assert.equal(value.finish, 'length');
    assert.equal(value.usage.completion_tokens, 12);
    assert.ok(value.text.length > 0);
  }

  await settle();
  const after = server.rssKiB();
  const metrics = (await raw(server, 'GET', '/metrics')).text;
  assert.equal(metricValue(metrics, 'ferrum_http_requests_in_flight'), 0);
  assert.equal(metricValue(metrics, 'ferrum_requests_waiting'), 0);
  console.log(`# load: ${CONCURRENCY} streams in ${seconds.toFixed(2)} s; RSS baseline ${baseline} KiB, ` +
    `peak ${peak} KiB, after ${after} KiB (${(after - baseline)} KiB)`);
  // Near the start: within 8 MiB (allocator slack), and the peak itself stayed bounded.
  assert.ok(after - baseline < 8 * 1024, `RSS grew by ${after - baseline} KiB`);
});
