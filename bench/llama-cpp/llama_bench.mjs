// llama.cpp's prefill and decode speed on the CPU, measured like `ferrum bench -p P -n N`:
// P prompt tokens in one batch, then N tokens decoded one at a time (greedy), R timed repetitions
// after one warm-up. llama.cpp comes from node-llama-cpp's prebuilt binaries (it picks the build
// for this CPU, e.g. its zen4 variant on an AMD EPYC), so no llama.cpp build is needed here.
//   node llama_bench.mjs MODEL.gguf [P=64] [N=32] [R=3] [THREADS=2]
import {getLlama} from "node-llama-cpp";

const [model, promptArg = "64", decodeArg = "32", repsArg = "3", threadsArg = "2"] = process.argv.slice(2);
if (!model) {
  console.error("usage: node llama_bench.mjs MODEL.gguf [P] [N] [R] [THREADS]");
  process.exit(2);
}
const [promptTokens, decodeTokens, reps, threads] = [promptArg, decodeArg, repsArg, threadsArg].map(Number);

const llama = await getLlama({gpu: false, build: "never", logLevel: "warn"});
const loaded = await llama.loadModel({modelPath: model});
const context = await loaded.createContext({contextSize: promptTokens + decodeTokens + 16, batchSize: 512, threads});
const sequence = context.getSequence();
const prompt = Array.from({length: promptTokens}, (_, i) => 1000 + 7 * i);  // arbitrary ids, as llama-bench's

const seconds = async (work) => {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1e3;
};
const prefillRates = [], decodeRates = [];
for (let rep = 0; rep <= reps; ++rep) {
  await sequence.clearHistory();
  const prefill = await seconds(() => sequence.evaluateWithoutGeneratingNewTokens(prompt));
  await sequence.clearHistory();
  await sequence.evaluateWithoutGeneratingNewTokens([1]);
  const decode = await seconds(async () => {
    let produced = 0;
    for await (const token of sequence.evaluate([2], {temperature: 0})) {
      void token;
      if (++produced >= decodeTokens) break;
    }
  });
  if (rep > 0) {
    prefillRates.push(promptTokens / prefill);
    decodeRates.push(decodeTokens / decode);
  }
}
const summary = (rates) => {
  const mean = rates.reduce((s, x) => s + x, 0) / rates.length;
  const spread = Math.sqrt(rates.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, rates.length - 1));
  return `${mean.toFixed(2)} ± ${spread.toFixed(2)}`;
};
console.log(`| llama.cpp (node-llama-cpp ${llama.llamaCppRelease?.release ?? ""}) | ${model} | pp${promptTokens} | ` +
            `${summary(prefillRates)} | tg${decodeTokens} | ${summary(decodeRates)} | ${threads} threads |`);
await context.dispose();
await loaded.dispose();
