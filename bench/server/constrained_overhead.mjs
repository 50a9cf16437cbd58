#!/usr/bin/env node
// Throughput of grammar-constrained decoding against free decoding, through `ferrum serve`:
//   node bench/server/constrained_overhead.mjs BASE_URL [MODEL] [ROUNDS]
// Each round generates with temperature 0 from one prompt: free text (ignore_eos, 256 tokens), and
// a JSON schema whose single string member is at least 240 characters long (so the constrained
// answer is long too). It reports generated tokens per second of each, best of the rounds, and
// the ratio. The schema's grammar is compiled and its masks warmed by the first round.
const [baseURL = 'http://127.0.0.1:8080', model = '', rounds = '5'] = process.argv.slice(2);

async function run(body) {
  const started = performance.now();
  const response = await fetch(`${baseURL}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: model || undefined, prompt: 'Once upon a time', temperature: 0, ...body }),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(JSON.stringify(json));
  const seconds = (performance.now() - started) / 1000;
  return { tokens: json.usage.completion_tokens, seconds, text: json.choices[0].text };
}

const schema = {
  type: 'object',
  properties: { story: { type: 'string', minLength: 240, maxLength: 600 } },
  required: ['story'],
  additionalProperties: false,
};
let free = 0;
let constrained = 0;
for (let round = 0; round < Number(rounds); ++round) {
  const a = await run({ max_tokens: 256, ignore_eos: true });
  const b = await run({ max_tokens: 512, response_format: { type: 'json_schema', json_schema: { name: 's', schema } } });
  JSON.parse(b.text);
  free = Math.max(free, a.tokens / a.seconds);
  constrained = Math.max(constrained, b.tokens / b.seconds);
  console.log(`round ${round}: free ${a.tokens} tok in ${a.seconds.toFixed(3)} s; ` +
    `constrained ${b.tokens} tok in ${b.seconds.toFixed(3)} s`);
}
console.log(`free ${free.toFixed(1)} tok/s, constrained ${constrained.toFixed(1)} tok/s: ` +
  `${(100 * (1 - constrained / free)).toFixed(1)}% slower`);
