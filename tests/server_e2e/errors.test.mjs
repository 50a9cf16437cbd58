// Every error path answers with the OpenAI error JSON and the right status, the official client
// raises the matching error class, and the server keeps serving afterwards. Also: a client that
// disconnects cancels its generation, and the request timeout stops a generation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';

import { fixture, metricValue, raw, startServer } from './lib/server.mjs';

const KEY = 'e2e-limits-key';
let server;
let client;

before(async () => {
  server = await startServer(fixture('stories260K', 'stories260K.gguf'), [
    '--api-key', KEY,
    '--chat-template', fixture('chat-templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'),
    '--max-body-mb', '1',
    '--max-total-tokens', '512',
    '--max-prompt-tokens', '400',
  ]);
  client = new OpenAI({ apiKey: KEY, baseURL: `${server.baseURL}/v1`, maxRetries: 0 });
});
after(() => server?.stop());

const chat = (extra = {}, c = client) =>
  c.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, ...extra });

// The official error shape: {"error": {"message", "type", "param", "code"}}.
function assertErrorBody(json, { param, code } = {}) {
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.message.length > 0);
  assert.equal(typeof json.error.type, 'string');
  assert.ok('param' in json.error && 'code' in json.error);
  if (param !== undefined) assert.equal(json.error.param, param);
  if (code !== undefined) assert.equal(json.error.code, code);
}

async function assertApiError(promise, status, ErrorClass, { param, code } = {}) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof ErrorClass, `${error.constructor.name}: ${error.message}`);
    assert.equal(error.status, status);
    if (param !== undefined) assert.equal(error.param, param);
    if (code !== undefined) assert.equal(error.code, code);
    return true;
  });
}

describe('authentication', () => {
  test('a missing or wrong key is a 401', async () => {
    const wrong = new OpenAI({ apiKey: 'not-the-key', baseURL: `${server.baseURL}/v1`, maxRetries: 0 });
    await assertApiError(chat({}, wrong), 401, OpenAI.AuthenticationError);
    const none = await raw(server, 'POST', '/v1/chat/completions', { body: '{}' });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assertErrorBody(none.json, { code: 'invalid_api_key' });
    assert.equal((await raw(server, 'GET', '/metrics')).status, 401);
  });
});

describe('request validation', () => {
  test('unknown models are a 404, and model names never reach the file system', async () => {
    await assertApiError(chat({ model: 'gpt-4o' }), 404, OpenAI.NotFoundError, { code: 'model_not_found' });
    await assertApiError(chat({ model: '../../../../etc/passwd' }), 404, OpenAI.NotFoundError);
    await assertApiError(client.models.retrieve('/etc/passwd'), 404, OpenAI.NotFoundError);
  });

  test('malformed JSON, invalid UTF-8 and non-object bodies are 400s', async () => {
    for (const body of ['{"model": ', '[1, 2]', '"x"', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])]) {
      const response = await raw(server, 'POST', '/v1/chat/completions', { body, key: KEY });
      assert.equal(response.status, 400);
      assertErrorBody(response.json);
    }
  });

  test('wrong types and ranges name the parameter', async () => {
    const cases = [
      [{ temperature: 'hot' }, 'temperature'],
      [{ temperature: 7 }, 'temperature'],
      [{ max_tokens: 0 }, 'max_tokens'],
      [{ n: 100 }, 'n'],
      [{ stop: 12 }, 'stop'],
      [{ top_logprobs: 3 }, 'top_logprobs'],
      [{ messages: 'hello' }, 'messages'],
      [{ messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x/y.png' } }] }] }, 'messages[0].content[0].type'],
      [{ tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name'],
      [{ tool_choice: 'required' }, 'tool_choice'],
      [{ response_format: { type: 'yaml' } }, 'response_format.type'],
    ];
    for (const [fields, param] of cases) {
      await assertApiError(chat(fields), 400, OpenAI.BadRequestError, { param });
    }
  });

  test('prompts and completions past the token limits are 400s naming the parameter', async () => {
    const long = 'once upon a time there was a cat '.repeat(100);
    await assertApiError(chat({ messages: [{ role: 'user', content: long }] }), 400, OpenAI.BadRequestError,
      { param: 'messages', code: 'context_length_exceeded' });
    await assertApiError(chat({ max_tokens: 100000 }), 400, OpenAI.BadRequestError,
      { param: 'max_tokens', code: 'context_length_exceeded' });
    await assertApiError(client.completions.create({ model: 'stories260K', prompt: long }), 400, OpenAI.BadRequestError,
      { param: 'prompt' });
  });

  test('a body over the size limit is a 413', async () => {
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] });
    const response = await raw(server, 'POST', '/v1/chat/completions', { body, key: KEY }).catch((e) => ({ error: e }));
    // The server answers before reading the body; the client may see the answer or a reset.
    if (!response.error) {
      assert.equal(response.status, 413);
      assertErrorBody(response.json, { code: 'request_too_large' });
    }
    assert.equal((await raw(server, 'GET', '/health')).status, 200);
  });

  test('wrong methods, unknown paths, and endpoints the model cannot serve', async () => {
    const wrongMethod = await raw(server, 'GET', '/v1/chat/completions', { key: KEY });
    assert.equal(wrongMethod.status, 405);
    assertErrorBody(wrongMethod.json);
    const unknown = await raw(server, 'POST', '/v1/unknown', { key: KEY, body: '{}' });
    assert.equal(unknown.status, 404);
    assertErrorBody(unknown.json);
    await assertApiError(client.embeddings.create({ model: 'stories260K', input: 'x' }), 400, OpenAI.BadRequestError);
  });

  test('malformed HTTP gets an error response, not a crash', async () => {
    const reply = await new Promise((resolve, reject) => {
      const socket = net.connect(server.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.match(reply, /"error"/);
  });
});

describe('cancellation and timeouts', () => {
  test('a client that disconnects cancels its generation', async () => {
    const metricsBefore = (await raw(server, 'GET', '/metrics', { key: KEY })).text;
    const abort = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'stories260K', messages: [{ role: 'user', content: 'Go on forever.' }], max_tokens: 380, stream: true, ignore_eos: true },
      { signal: abort.signal },
    );
    let chunks = 0;
    try {
      // The SDK ends the iteration quietly (or throws, by version) once the request is aborted.
      for await (const _ of stream) {
        if (++chunks === 3) {
          abort.abort();
          break;  // chunks already buffered on the client side would still be yielded
        }
      }
    } catch (error) {
      assert.match(String(error), /abort/i);
    }
    assert.equal(chunks, 3);
    // The engine drops the request: nothing running or waiting soon after, and the request is
    // counted as closed by the client (499).
    let metrics = '';
    for (let i = 0; i < 100; ++i) {
      metrics = (await raw(server, 'GET', '/metrics', { key: KEY })).text;
      const closed = metricValue(metrics, 'ferrum_requests_total', { endpoint: '/v1/chat/completions', status: '499' });
      if (closed > metricValue(metricsBefore, 'ferrum_requests_total', { status: '499' }) &&
          metricValue(metrics, 'ferrum_requests_running') === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(metricValue(metrics, 'ferrum_requests_running'), 0);
    assert.equal(metricValue(metrics, 'ferrum_requests_waiting'), 0);
    assert.ok(metricValue(metrics, 'ferrum_requests_total', { status: '499' }) >= 1);
    const generated = metricValue(metrics, 'ferrum_engine_generation_tokens_total') -
      metricValue(metricsBefore, 'ferrum_engine_generation_tokens_total');
    assert.ok(generated < 380, `the cancelled request generated ${generated} tokens`);
  });

  test('the request timeout stops a long generation', async () => {
    const slow = await startServer(fixture('stories260K', 'stories260K.gguf'), ['--request-timeout', '0.05'], { name: 'timeout' });
    try {
      const c = new OpenAI({ apiKey: 'x', baseURL: `${slow.baseURL}/v1`, maxRetries: 0 });
      const request = { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 1900, ignore_eos: true };
      await assertApiError(c.completions.create(request), 408, OpenAI.APIError, { code: 'request_timeout' });
      await assert.rejects(async () => {
        for await (const _ of await c.completions.create({ ...request, stream: true }));
      }, /timeout/);
      assert.equal((await raw(slow, 'GET', '/health')).status, 200);
    } finally {
      await slow.stop();
    }
  });
});

describe('metrics', () => {
  test('Prometheus text with request, token, latency and engine series', async () => {
    await chat({ max_tokens: 3 });
    await chat({ max_tokens: 3 });  // the same prompt again: its prefix comes from the cache
    const response = await raw(server, 'GET', '/metrics', { key: KEY });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /text\/plain; version=0\.0\.4/);
    const text = response.text;
    assert.ok(metricValue(text, 'ferrum_requests_total', { endpoint: '/v1/chat/completions', status: '200' }) >= 1);
    assert.ok(metricValue(text, 'ferrum_requests_total', { status: '400' }) >= 1);
    assert.ok(metricValue(text, 'ferrum_generation_tokens_total') >= 3);
    assert.ok(metricValue(text, 'ferrum_prompt_tokens_total') > 0);
    for (const histogram of ['ferrum_time_to_first_token_seconds', 'ferrum_time_per_output_token_seconds',
      'ferrum_inter_token_latency_seconds', 'ferrum_e2e_request_latency_seconds']) {
      assert.ok(metricValue(text, `${histogram}_count`) >= 1, histogram);
      assert.match(text, new RegExp(`${histogram}_bucket\\{le="\\+Inf"\\}`));
    }
    for (const gauge of ['ferrum_requests_waiting', 'ferrum_kv_blocks_used', 'ferrum_kv_blocks_total',
      'ferrum_prefix_cache_hits_total', 'ferrum_prefix_cache_queries_total']) {
      assert.match(text, new RegExp(`^${gauge} `, 'm'), gauge);
    }
    assert.ok(metricValue(text, 'ferrum_prefix_cache_hits_total') > 0);
  });

  test('the server is still healthy after all of the above', async () => {
    assert.equal((await raw(server, 'GET', '/health')).status, 200);
    const response = await chat();
    assert.equal(response.choices.length, 1);
  });
});
