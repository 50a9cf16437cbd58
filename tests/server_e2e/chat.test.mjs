// Text generation through the official client: stories260K (a real trained model) behind the
// Qwen2.5 chat template, whose tool format is Hermes' <tool_call>.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

import { fixture, raw, startServer } from './lib/server.mjs';
import { validate } from './lib/check.mjs';

const KEY = 'e2e-secret-key';
let server;
let client;

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', enum: ['Paris', 'Oslo', 'Lima'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
      required: ['city', 'days'],
      additionalProperties: false,
    },
  },
};

before(async () => {
  server = await startServer(fixture('stories260K', 'stories260K.gguf'), [
    '--api-key', KEY,
    '--chat-template', fixture('chat-templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'),
    '--served-model-name', 'stories260K',
    '--served-model-name', 'stories',
  ]);
  client = new OpenAI({ apiKey: KEY, baseURL: `${server.baseURL}/v1`, maxRetries: 0, timeout: 60_000 });
});
after(() => server?.stop());

const ask = (extra = {}) =>
  client.chat.completions.create({
    model: 'stories260K',
    messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
    temperature: 0,
    max_tokens: 24,
    ...extra,
  });

async function collectStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('models and health', () => {
  test('GET /v1/models lists the served names', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    assert.deepEqual(models, ['stories260K', 'stories']);
    const one = await client.models.retrieve('stories');
    assert.equal(one.id, 'stories');
  });

  test('/health needs no key', async () => {
    const health = await raw(server, 'GET', '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'ok');
  });
});

describe('chat completions', () => {
  test('non-streaming: content, finish_reason length, usage', async () => {
    const response = await ask();
    assert.equal(response.object, 'chat.completion');
    assert.equal(response.choices.length, 1);
    const choice = response.choices[0];
    assert.equal(choice.message.role, 'assistant');
    assert.equal(typeof choice.message.content, 'string');
    assert.ok(choice.message.content.length > 0);
    assert.equal(choice.finish_reason, 'length');
    assert.equal(response.usage.completion_tokens, 24);
    assert.ok(response.usage.prompt_tokens > 10);
    assert.equal(response.usage.total_tokens, response.usage.prompt_tokens + 24);
  });

  test('streaming deltas add up to the non-streaming answer, with usage last', async () => {
    const whole = await ask();
    const chunks = await collectStream(await ask({ stream: true, stream_options: { include_usage: true } }));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, whole.choices[0].message.content);
    const finishes = chunks.flatMap((c) => c.choices.map((x) => x.finish_reason)).filter(Boolean);
    assert.deepEqual(finishes, ['length']);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 24);
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });

  test('max_completion_tokens bounds the answer', async () => {
    const response = await ask({ max_tokens: undefined, max_completion_tokens: 5 });
    assert.equal(response.usage.completion_tokens, 5);
  });

  test('a seed makes sampling reproducible; n > 1 gives independent choices', async () => {
    const sampled = (seed) => ask({ temperature: 1.0, top_p: 0.95, seed, n: 3 });
    const a = await sampled(1234);
    const b = await sampled(1234);
    assert.equal(a.choices.length, 3);
    assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
    assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
    assert.ok(new Set(a.choices.map((c) => c.message.content)).size > 1, 'choices should differ');
    assert.equal(a.usage.completion_tokens, 3 * 24);
  });

  test('n > 1 streams every choice by index', async () => {
    const chunks = await collectStream(await ask({ stream: true, n: 2, temperature: 0.8, seed: 7 }));
    const texts = ['', ''];
    for (const chunk of chunks) for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
    assert.ok(texts[0].length > 0 && texts[1].length > 0);
    const finished = chunks.flatMap((c) => c.choices.filter((x) => x.finish_reason).map((x) => x.index));
    assert.deepEqual(finished.sort(), [0, 1]);
  });

  test('sampling parameters vLLM and llama.cpp accept', async () => {
    const response = await ask({
      temperature: 0.7, top_p: 0.9, frequency_penalty: 0.5, presence_penalty: 0.3, seed: 3,
      top_k: 20, min_p: 0.05, repetition_penalty: 1.2, logit_bias: { 13: -100 },
    });
    assert.equal(response.choices[0].finish_reason, 'length');
  });

  test('logprobs with top_logprobs', async () => {
    const response = await ask({ logprobs: true, top_logprobs: 3, max_tokens: 8 });
    const content = response.choices[0].logprobs.content;
    assert.equal(content.length, 8);
    for (const entry of content) {
      assert.equal(entry.top_logprobs.length, 3);
      assert.ok(entry.logprob <= 0);
      // Greedy: the chosen token is the most likely one.
      assert.equal(entry.top_logprobs[0].token, entry.token);
      assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-5);
      assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob);
      assert.deepEqual(Buffer.from(entry.bytes).toString('utf8'), entry.token);
    }
    assert.equal(content.map((e) => e.token).join(''), response.choices[0].message.content);
  });

  test('stop sequences end the answer and never appear, streamed or not', async () => {
    const full = (await ask({ max_tokens: 40 })).choices[0].message.content;
    const cut = Math.floor(full.length / 2);
    const stop = full.slice(cut, cut + 4);
    const expected = full.slice(0, full.indexOf(stop));
    const response = await ask({ max_tokens: 40, stop: [stop, 'zzzz'] });
    assert.equal(response.choices[0].message.content, expected);
    assert.equal(response.choices[0].finish_reason, 'stop');
    const chunks = await collectStream(await ask({ max_tokens: 40, stop, stream: true }));
    const streamed = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(streamed, expected);
  });
});

describe('completions', () => {
  // llama.cpp's greedy continuation of the same prompt with the same model.
  const reference = JSON.parse(readFileSync(fixture('stories260K', 'llamacpp', 'greedy.json'), 'utf8'))[0];

  test('greedy text equals llama.cpp\'s', async () => {
    const response = await client.completions.create({
      model: 'stories', prompt: reference.prompt, max_tokens: 32, temperature: 0,
    });
    assert.equal(response.object, 'text_completion');
    assert.ok(reference.generated_text.startsWith(response.choices[0].text), response.choices[0].text);
    assert.ok(response.choices[0].text.length > 60);
    assert.equal(response.usage.prompt_tokens, 5);
  });

  test('token-id prompts, echo, legacy logprobs and streaming', async () => {
    const echoed = await client.completions.create({
      model: 'stories', prompt: reference.prompt_ids, max_tokens: 4, temperature: 0, echo: true, logprobs: 2,
    });
    const choice = echoed.choices[0];
    assert.ok(choice.text.startsWith(reference.prompt), choice.text);
    assert.equal(choice.logprobs.tokens.length, 4);
    assert.equal(choice.logprobs.top_logprobs[0] && Object.keys(choice.logprobs.top_logprobs[0]).length, 2);
    assert.deepEqual(choice.logprobs.text_offset[0], 0);
    const stream = await client.completions.create({
      model: 'stories', prompt: reference.prompt, max_tokens: 16, temperature: 0, stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.ok(reference.generated_text.startsWith(text));
  });

  test('several prompts times n', async () => {
    const response = await client.completions.create({
      model: 'stories', prompt: ['Once upon a time', 'The little dog'], n: 2, max_tokens: 4, temperature: 0,
    });
    assert.deepEqual(response.choices.map((c) => c.index), [0, 1, 2, 3]);
    assert.equal(response.choices[0].text, response.choices[1].text);
    assert.notEqual(response.choices[0].text, response.choices[2].text);
  });
});

describe('tools', () => {
  test('auto: a model that answers in prose gives content, not calls', async () => {
    const response = await ask({ tools: [weatherTool] });
    const message = response.choices[0].message;
    assert.equal(typeof message.content, 'string');
    assert.ok(!message.tool_calls || message.tool_calls.length === 0);
  });

  test('a named function is called with arguments valid under its schema', async () => {
    const response = await ask({
      tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 60,
    });
    const choice = response.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.ok(call.id.startsWith('call_'));
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.deepEqual(validate(weatherTool.function.parameters, args), []);
  });

  test('required: one call among the tools, with parallel_tool_calls false', async () => {
    const other = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } };
    const response = await ask({ tools: [weatherTool, other], tool_choice: 'required', parallel_tool_calls: false, max_tokens: 80 });
    const choice = response.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0].function;
    assert.ok(['get_weather', 'get_time'].includes(call.name));
    if (call.name === 'get_weather') assert.deepEqual(validate(weatherTool.function.parameters, JSON.parse(call.arguments)), []);
  });

  test('streamed tool-call deltas assemble into the call', async () => {
    const chunks = await collectStream(await ask({
      tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 60, stream: true,
    }));
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.tool_calls ?? []);
    assert.ok(deltas.length >= 2);
    assert.equal(deltas[0].function.name, 'get_weather');
    assert.ok(deltas[0].id.startsWith('call_'));
    const args = deltas.map((d) => d.function?.arguments ?? '').join('');
    assert.deepEqual(validate(weatherTool.function.parameters, JSON.parse(args)), []);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
  });

  test('tool results are rendered back through the chat template', async () => {
    const messages = [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Oslo", "days": 2}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": -3}' },
    ];
    const response = await client.chat.completions.create({ model: 'stories', messages, tools: [weatherTool], max_tokens: 8 });
    assert.equal(response.choices[0].finish_reason, 'length');
    // What the model saw: tokenize the conversation, then detokenize.
    const tokenized = await raw(server, 'POST', '/tokenize', {
      key: KEY, body: JSON.stringify({ model: 'stories', messages }),
    });
    assert.equal(tokenized.status, 200);
    assert.equal(tokenized.json.count, tokenized.json.tokens.length);
    const text = await raw(server, 'POST', '/detokenize', { key: KEY, body: JSON.stringify({ tokens: tokenized.json.tokens }) });
    assert.match(text.json.prompt, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Oslo", "days": 2\}\}\n<\/tool_call>/);
    assert.match(text.json.prompt, /<tool_response>\n\{"temperature": -3\}\n<\/tool_response>/);
  });
});

describe('structured output', () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 12 },
      age: { type: 'integer', minimum: 1, maximum: 120 },
      mood: { type: 'string', enum: ['happy', 'sad', 'sleepy'] },
      friends: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
      pet: { type: ['string', 'null'], maxLength: 8 },
    },
    required: ['name', 'age', 'mood', 'friends', 'pet'],
    additionalProperties: false,
  };

  test('json_schema: the output parses and validates', async () => {
    for (const seed of [1, 2, 3]) {
      const response = await ask({
        temperature: 0.9, seed, max_tokens: 200,
        response_format: { type: 'json_schema', json_schema: { name: 'character', schema, strict: true } },
      });
      const choice = response.choices[0];
      assert.equal(choice.finish_reason, 'stop', choice.message.content);
      const value = JSON.parse(choice.message.content);
      assert.deepEqual(validate(schema, value), [], choice.message.content);
    }
  });

  test('json_schema streamed', async () => {
    const chunks = await collectStream(await ask({
      stream: true, max_tokens: 200,
      response_format: { type: 'json_schema', json_schema: { name: 'character', schema } },
    }));
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.deepEqual(validate(schema, JSON.parse(text)), []);
  });

  test('json_object: a JSON object comes out', async () => {
    const response = await ask({ response_format: { type: 'json_object' }, max_tokens: 300, temperature: 0 });
    const text = response.choices[0].message.content.trim();
    assert.ok(text.startsWith('{'), text);
    if (response.choices[0].finish_reason === 'stop') assert.equal(typeof JSON.parse(text), 'object');
  });

  test('unsupported schema keywords are a 400 naming them', async () => {
    const bad = { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]+$' }, at: { type: 'string', format: 'date' } } };
    await assert.rejects(
      ask({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: bad } } }),
      (error) => {
        assert.equal(error.status, 400);
        assert.match(error.message, /pattern at '\/properties\/zip'/);
        assert.match(error.message, /format at '\/properties\/at'/);
        assert.equal(error.param, 'response_format.json_schema.schema');
        return true;
      },
    );
  });
});

describe('reasoning models', () => {
  let r1;
  before(async () => {
    // DeepSeek-R1's template opens <think> in the prompt, so the answer starts inside the reasoning.
    r1 = await startServer(fixture('stories260K', 'stories260K.gguf'), [
      '--chat-template', fixture('chat-templates', 'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja'),
    ], { name: 'r1' });
  });
  after(() => r1?.stop());

  test('<think> content comes back as reasoning_content, streamed too', async () => {
    const r1client = new OpenAI({ apiKey: 'none', baseURL: `${r1.baseURL}/v1`, maxRetries: 0 });
    const request = { model: 'stories260K', messages: [{ role: 'user', content: 'Why?' }], max_tokens: 12, temperature: 0 };
    const response = await r1client.chat.completions.create(request);
    const message = response.choices[0].message;
    assert.ok(message.reasoning_content.length > 0);
    assert.equal(message.content, '');
    const chunks = await collectStream(await r1client.chat.completions.create({ ...request, stream: true }));
    const reasoning = chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
    assert.equal(reasoning, message.reasoning_content);
  });
});
