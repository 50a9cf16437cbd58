// Embeddings (BERT, CLIP text) against transformers' reference outputs, and Whisper transcription
// of a real WAV upload. The hf-tiny checkpoints ship no tokenizer, so embeddings take token ids
// (which the API allows), and the Whisper test gives its checkpoint a synthetic byte-level
// tokenizer (written below, labelled as such) so the transcript has text to compare.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI, { toFile } from 'openai';

import { ferrum, fixture, raw, startServer } from './lib/server.mjs';
import { maxAbsDifference, readSafetensors } from './lib/check.mjs';

const clientFor = (server) => new OpenAI({ apiKey: 'none', baseURL: `${server.baseURL}/v1`, maxRetries: 0 });
const row = (tensor, index, width) => Array.from(tensor.data.slice(index * width, (index + 1) * width));

describe('embeddings: BERT', () => {
  let server;
  let client;
  const reference = readSafetensors(fixture('hf-tiny', 'bert', 'reference.safetensors'));
  const [, length] = reference.input_ids.shape;
  const ids = (r) => {
    const all = row(reference.input_ids, r, length);
    const mask = row(reference.attention_mask, r, length);
    return all.filter((_, i) => mask[i] === 1);
  };
  before(async () => {
    server = await startServer(fixture('hf-tiny', 'bert'), [], { name: 'bert' });
    client = clientFor(server);
  });
  after(() => server?.stop());

  test('token-id inputs match transformers (mean pooled, L2-normalised), base64 and float', async () => {
    const expected = [row(reference.mean_pooled_normalized, 0, 64), row(reference.mean_pooled_normalized, 1, 64)];
    // The SDK asks for base64 and decodes it; also ask for floats explicitly.
    for (const encoding_format of [undefined, 'float']) {
      const response = await client.embeddings.create({ model: 'bert', input: [ids(0), ids(1)], encoding_format });
      assert.equal(response.object, 'list');
      assert.equal(response.data.length, 2);
      for (const [i, item] of response.data.entries()) {
        assert.equal(item.index, i);
        assert.equal(item.embedding.length, 64);
        const error = maxAbsDifference(Array.from(item.embedding), expected[i]);
        assert.ok(error < 2e-3, `row ${i}: max |diff| ${error}`);
      }
      assert.equal(response.usage.prompt_tokens, ids(0).length + ids(1).length);
    }
  });

  test('text input needs a tokenizer; bad inputs are 400s', async () => {
    await assert.rejects(client.embeddings.create({ model: 'bert', input: 'hello' }), (e) => e.status === 400 && e.param === 'input');
    await assert.rejects(client.embeddings.create({ model: 'bert', input: [[1, 100000]] }), (e) => e.status === 400);
    await assert.rejects(client.embeddings.create({ model: 'bert', input: [[1, 2]], dimensions: 32 }), (e) => e.param === 'dimensions');
    await assert.rejects(client.chat.completions.create({ model: 'bert', messages: [{ role: 'user', content: 'x' }] }), (e) => e.status === 400);
  });
});

describe('embeddings: CLIP text tower', () => {
  let server;
  const reference = readSafetensors(fixture('hf-tiny', 'clip', 'reference.safetensors'));
  before(async () => (server = await startServer(fixture('hf-tiny', 'clip'), [], { name: 'clip' })));
  after(() => server?.stop());

  test('projected text features match transformers', async () => {
    const [, length] = reference.input_ids.shape;
    const inputs = [row(reference.input_ids, 0, length), row(reference.input_ids, 1, length)];
    const response = await clientFor(server).embeddings.create({ model: 'clip', input: inputs, encoding_format: 'float' });
    for (const [i, item] of response.data.entries()) {
      const error = maxAbsDifference(item.embedding, row(reference.text_embeds, i, 32));
      assert.ok(error < 2e-3, `row ${i}: max |diff| ${error}`);
    }
  });
});

describe('embeddings: a decoder\'s pooled hidden states (stories260K)', () => {
  // Projected through the (tied) output head, a pooled final hidden state is a logits row: the
  // last token's is llama.cpp's logits at the last prompt position, and by linearity the mean's is
  // the mean of llama.cpp's rows. So both poolings check against an engine we did not write.
  const prompt = [1, 403, 407, 261, 378];  // "Once upon a time" with BOS
  const embedTokens = readSafetensors(fixture('stories260K', 'stories260K-hf', 'model.safetensors'))['model.embed_tokens.weight'];
  const [vocab, width] = embedTokens.shape;
  const logitsBytes = readFileSync(fixture('stories260K', 'llamacpp', 'logits.once_upon_a_time.f32kv-noflash.f32'));
  const logits = new Float32Array(logitsBytes.buffer, logitsBytes.byteOffset, logitsBytes.byteLength / 4);
  const logitsRow = (position) => Array.from(logits.slice(position * vocab, (position + 1) * vocab));
  const project = (hidden) =>
    Array.from({ length: vocab }, (_, token) => hidden.reduce((sum, h, i) => sum + h * embedTokens.data[token * width + i], 0));

  for (const pooling of ['last', 'mean']) {
    test(`${pooling} pooling matches llama.cpp's logits`, async () => {
      const server = await startServer(fixture('stories260K', 'stories260K.gguf'),
        ['--embeddings', '--pooling', pooling, '--no-normalize'], { name: `embed-${pooling}` });
      try {
        const response = await clientFor(server).embeddings.create({ model: 'stories260K', input: [prompt] });
        const hidden = Array.from(response.data[0].embedding);
        assert.equal(hidden.length, width);
        const expected = pooling === 'last'
          ? logitsRow(prompt.length - 1)
          : logitsRow(0).map((_, token) => prompt.reduce((sum, __, p) => sum + logitsRow(p)[token], 0) / prompt.length);
        const error = maxAbsDifference(project(hidden), expected);
        assert.ok(error < 1e-3, `max |diff| ${error}`);
        // Text goes through the model's tokenizer (BOS added), so it embeds the same ids.
        const text = await clientFor(server).embeddings.create({ model: 'stories260K', input: 'Once upon a time' });
        assert.equal(text.usage.prompt_tokens, prompt.length);
        assert.ok(maxAbsDifference(Array.from(text.data[0].embedding), hidden) < 1e-6);
      } finally {
        await server.stop();
      }
    });
  }

  test('normalised by default', async () => {
    const server = await startServer(fixture('stories260K', 'stories260K.gguf'), ['--embeddings'], { name: 'embed' });
    try {
      const response = await clientFor(server).embeddings.create({ model: 'stories260K', input: ['a cat', 'a dog'] });
      for (const item of response.data) {
        const norm = Math.sqrt(item.embedding.reduce((sum, x) => sum + x * x, 0));
        assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
      }
      await assert.rejects(clientFor(server).chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'x' }] }),
        (e) => e.status === 400);
    } finally {
      await server.stop();
    }
  });
});

// A byte-level BPE tokenizer.json over the tiny model's 512 ids: three special tokens where the
// config puts pad / start-of-transcript / end-of-text, the 256 bytes, then unused specials. It
// gives the random-weight model's token ids a text; it is not Whisper's real vocabulary.
function syntheticWhisperTokenizer() {
  const printable = [];
  for (let b = 33; b <= 126; ++b) printable.push(b);
  for (let b = 161; b <= 172; ++b) printable.push(b);
  for (let b = 174; b <= 255; ++b) printable.push(b);
  const byteToChar = new Map(printable.map((b) => [b, String.fromCodePoint(b)]));
  let extra = 0;
  for (let b = 0; b < 256; ++b) if (!byteToChar.has(b)) byteToChar.set(b, String.fromCodePoint(256 + extra++));
  const vocab = {};
  const added = [];
  const special = (id, content) => {
    vocab[content] = id;
    added.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  };
  ['<|pad|>', '<|startoftranscript|>', '<|endoftext|>'].forEach((name, id) => special(id, name));
  for (let b = 0; b < 256; ++b) vocab[byteToChar.get(b)] = 3 + b;
  for (let id = 259; id < 512; ++id) special(id, `<|extra_${id}|>`);
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
}

describe('transcription: Whisper', () => {
  let server;
  let client;
  let modelDir;
  const wav = fixture('whisper-mel', 'speech_22k.wav');
  before(async () => {
    modelDir = mkdtempSync(path.join(os.tmpdir(), 'ferrum-whisper-'));
    for (const file of ['config.json', 'model.safetensors']) {
      symlinkSync(fixture('hf-tiny', 'whisper', file), path.join(modelDir, file));
    }
    writeFileSync(path.join(modelDir, 'tokenizer.json'), JSON.stringify(syntheticWhisperTokenizer()));
    server = await startServer(modelDir, ['--served-model-name', 'whisper-1'], { name: 'whisper' });
    client = clientFor(server);
  });
  after(async () => {
    await server?.stop();
    if (modelDir) rmSync(modelDir, { recursive: true, force: true });
  });

  test('a multipart WAV upload transcribes as `ferrum transcribe` does', async () => {
    const expectedText = execFileSync(ferrum, ['transcribe', modelDir, wav], { encoding: 'utf8' }).trimEnd();
    const expectedIds = execFileSync(ferrum, ['transcribe', modelDir, wav, '--ids'], { encoding: 'utf8' })
      .trim().split('\n').flatMap((line) => JSON.parse(line));
    const transcript = await client.audio.transcriptions.create({ model: 'whisper-1', file: createReadStream(wav) });
    assert.equal(transcript.text, expectedText);
    const verbose = await client.audio.transcriptions.create({
      model: 'whisper-1', file: createReadStream(wav), response_format: 'verbose_json', language: undefined,
    });
    assert.deepEqual(verbose.segments[0].tokens, expectedIds);
    assert.ok(verbose.duration > 1 && verbose.duration < 30, `duration ${verbose.duration}`);
    const text = await client.audio.transcriptions.create({ model: 'whisper-1', file: createReadStream(wav), response_format: 'text' });
    assert.equal(String(text).trimEnd(), expectedText);
  });

  test('bad uploads are 400s', async () => {
    const notAudio = await toFile(Buffer.from('this is not audio at all'), 'speech.wav');
    await assert.rejects(client.audio.transcriptions.create({ model: 'whisper-1', file: notAudio }), (e) => e.status === 400 && e.param === 'file');
    const audio = () => createReadStream(wav);
    await assert.rejects(client.audio.transcriptions.create({ model: 'whisper-1', file: audio(), temperature: 0.7 }), (e) => e.param === 'temperature');
    await assert.rejects(client.audio.transcriptions.create({ model: 'whisper-1', file: audio(), response_format: 'srt' }), (e) => e.param === 'response_format');
    await assert.rejects(client.audio.transcriptions.create({ model: 'nope', file: audio() }), (e) => e.status === 404);
    const noFile = await raw(server, 'POST', '/v1/audio/transcriptions', {
      body: '--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--b--\r\n',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
    });
    assert.equal(noFile.status, 400);
    assert.equal(noFile.json.error.param, 'file');
    const json = await raw(server, 'POST', '/v1/audio/transcriptions', { body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(json.status, 415);
  });
});
