// The official OpenAI Node client, unchanged, against an AI-Companion gateway. Used by the conformance test
// (OpenAiConformanceTest): it runs every call below and prints one JSON line with what came back; the Java
// side asserts on it (greedy text equals the fixture's oracle, error statuses, shapes).
//
//   node openai-conformance.mjs BASE_URL MODEL [API_KEY]      e.g. http://127.0.0.1:8080/v1 stories260K
import OpenAI, { APIError } from 'openai';

const [baseURL, model, apiKey] = process.argv.slice(2);
if (!baseURL || !model) {
  console.error('usage: node openai-conformance.mjs BASE_URL MODEL [API_KEY]');
  process.exit(2);
}
const client = new OpenAI({ baseURL, apiKey: apiKey || 'not-needed', maxRetries: 0, timeout: 60_000 });
const out = {};

async function step(name, fn) {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { thrown: true, name: e?.constructor?.name, isAPIError: e instanceof APIError,
      status: e?.status, message: String(e?.message), code: e?.code ?? null, param: e?.param ?? null,
      type: e?.type ?? null };
  }
}

await step('models', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push({ id: m.id, object: m.object, owned_by: m.owned_by });
  return { ids };
});

await step('completion', async () => {
  const r = await client.completions.create({ model, prompt: '', temperature: 0, max_tokens: 60 });
  return { object: r.object, model: r.model, text: r.choices[0].text, finish_reason: r.choices[0].finish_reason,
    usage: r.usage, companion: r.companion ?? null };
});

await step('completionStream', async () => {
  const stream = await client.completions.create({ model, prompt: '', temperature: 0, max_tokens: 60, stream: true });
  let text = ''; let chunks = 0; let finish = null;
  for await (const c of stream) {
    chunks++;
    text += c.choices?.[0]?.text ?? '';
    finish = c.choices?.[0]?.finish_reason ?? finish;
  }
  return { text, chunks, finish_reason: finish };
});

await step('chat', async () => {
  const r = await client.chat.completions.create({ model, messages: [{ role: 'user', content: '' }],
    temperature: 0, max_tokens: 60 });
  return { object: r.object, model: r.model, role: r.choices[0].message.role, text: r.choices[0].message.content,
    finish_reason: r.choices[0].finish_reason, usage: r.usage, companion: r.companion ?? null };
});

await step('chatStream', async () => {
  const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: '' }],
    temperature: 0, max_tokens: 60, stream: true, stream_options: { include_usage: true } });
  let text = ''; let chunks = 0; let finish = null; let usage = null; let role = null; let object = null;
  for await (const c of stream) {
    chunks++;
    object = c.object;
    const d = c.choices?.[0]?.delta;
    if (d?.role) role = d.role;
    text += d?.content ?? '';
    finish = c.choices?.[0]?.finish_reason ?? finish;
    if (c.usage) usage = c.usage;
  }
  return { object, role, text, chunks, finish_reason: finish, usage };
});

await step('embeddings', async () => {
  const r = await client.embeddings.create({ model: 'all-MiniLM-L6-v2', input: ['hello world', 'a tiny story'] });
  const v = r.data[0].embedding;
  return { object: r.object, model: r.model, count: r.data.length, dim: v.length,
    norm: Math.sqrt(v.reduce((s, x) => s + x * x, 0)), usage: r.usage };
});

await step('badRequest', async () => {
  await client.chat.completions.create({ model, messages: [], temperature: 0 });
  return { thrown: false };
});

await step('outOfRange', async () => {
  await client.completions.create({ model, prompt: 'x', temperature: 7 });
  return { thrown: false };
});

await step('unknownModel', async () => {
  await client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 5 });
  return { thrown: false };
});

console.log(JSON.stringify(out));
