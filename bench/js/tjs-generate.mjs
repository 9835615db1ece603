// Greedy generation with transformers.js (onnxruntime-node, CPU) on a model folder in the Hugging Face ONNX
// layout, local files only. Used as a real peer: tests compare its tokens with ours, and `companion bench`
// compares its speed with ours on the same folder in the same run.
//
//   node tjs-generate.mjs MODEL_DIR --tokens N [--prompt TEXT] [--runs R] [--min]
//
// Prints one JSON line: {"tokens":[ids of the generated tokens],"text":...,"ttft_ms":...,"decode_tps":...}
// ttft_ms: wall time from the call to the first generated token; decode_tps: generated tokens after the first,
// per second of wall time after the first (best of R runs after one warm-up).
import path from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env, Tensor } from '@huggingface/transformers';

const args = process.argv.slice(2);
if (args.length < 1) {
  console.error('usage: node tjs-generate.mjs MODEL_DIR --tokens N [--prompt TEXT] [--runs R] [--min]');
  process.exit(2);
}
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const dir = path.resolve(args[0]);
const nTokens = parseInt(opt('--tokens', '60'), 10);
const prompt = opt('--prompt', '');
const runs = parseInt(opt('--runs', '1'), 10);
// --min: force exactly N tokens (ignore EOS), for throughput runs
const forceLength = args.includes('--min');

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.dirname(dir) + '/';
const id = path.basename(dir);

const tokenizer = await AutoTokenizer.from_pretrained(id);
const model = await AutoModelForCausalLM.from_pretrained(id, { subfolder: '', dtype: 'fp32', device: 'cpu' });

// llama2.c starts from BOS alone for an empty prompt; the tokenizer adds BOS itself otherwise
const ids = prompt === '' ? [1n] : Array.from(tokenizer.encode(prompt)).map(BigInt);
const inputIds = new Tensor('int64', BigInt64Array.from(ids), [1, ids.length]);
const attentionMask = new Tensor('int64', BigInt64Array.from(ids.map(() => 1n)), [1, ids.length]);

async function once() {
  const stamps = [];
  let first = true;
  const streamer = {
    put(value) {
      // the first put carries the prompt, as in Hugging Face's streamers
      if (first) { first = false; return; }
      stamps.push(performance.now());
    },
    end() {},
  };
  const t0 = performance.now();
  const out = await model.generate({
    input_ids: inputIds, attention_mask: attentionMask, max_new_tokens: nTokens, do_sample: false,
    ...(forceLength ? { min_new_tokens: nTokens } : {}), streamer,
  });
  const all = Array.from(out.tolist()[0]).map(Number);
  const generated = all.slice(ids.length);
  const ttft = stamps.length ? stamps[0] - t0 : NaN;
  const decodeTps = stamps.length > 1 ? (stamps.length - 1) / ((stamps[stamps.length - 1] - stamps[0]) / 1000) : NaN;
  return { generated, ttft, decodeTps };
}

let best = null;
const total = runs > 1 ? runs + 1 : 1;
for (let r = 0; r < total; r++) {
  const res = await once();
  if (runs > 1 && r === 0) continue; // warm-up
  if (!best || res.decodeTps > best.decodeTps) best = res;
}
const text = tokenizer.decode(best.generated, { skip_special_tokens: true });
console.log(JSON.stringify({ tokens: best.generated, text, ttft_ms: best.ttft, decode_tps: best.decodeTps }));
