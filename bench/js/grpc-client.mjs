// @grpc/grpc-js against the gateway's gRPC door, with the .proto from the api module loaded at run time
// (@grpc/proto-loader), as any grpc-js user would. Used by GrpcJsClientTest: prints one JSON line with what
// came back from ListModels, Complete, Chat (server streaming, and one cancelled early), Embed, a bad request
// and the standard health service.
//
//   node grpc-client.mjs HOST:PORT PROTO_FILE MODEL [API_KEY]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const [target, protoFile, model, apiKey] = process.argv.slice(2);
if (!target || !protoFile || !model) {
  console.error('usage: node grpc-client.mjs HOST:PORT PROTO_FILE MODEL [API_KEY]');
  process.exit(2);
}
const loadOpts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, loadOpts));
const client = new pkg.companion.v1.Assistant(target, grpc.credentials.createInsecure());

// the standard health protocol, written out here as grpc_health_probe knows it
const healthProto = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'health-')), 'health.proto');
fs.writeFileSync(healthProto, `syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
  ServingStatus status = 1; }
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`);
const healthPkg = grpc.loadPackageDefinition(protoLoader.loadSync(healthProto, loadOpts));
const health = new healthPkg.grpc.health.v1.Health(target, grpc.credentials.createInsecure());

const meta = () => {
  const m = new grpc.Metadata();
  if (apiKey) m.set('authorization', 'Bearer ' + apiKey);
  return m;
};
const err = (e) => ({ thrown: true, code: e.code, codeName: grpc.status[e.code], details: e.details,
  retryAfter: e.metadata?.get('retry-after')?.[0] ?? null });
const unary = (c, method, req) => new Promise((resolve) =>
  c[method](req, meta(), (e, r) => resolve(e ? err(e) : r)));
const greedy = { temperature: 0, max_tokens: 60 };
const out = {};

out.listModels = await unary(client, 'ListModels', {});
out.complete = await unary(client, 'Complete', { model, prompt: '', sampling: greedy });
out.chat = await new Promise((resolve) => {
  const chunks = [];
  const call = client.Chat({ model, messages: [{ role: 'user', content: '' }], sampling: greedy }, meta());
  call.on('data', (c) => chunks.push(c));
  call.on('error', (e) => resolve(err(e)));
  call.on('end', () => resolve({ chunks: chunks.length, text: chunks.map((c) => c.delta).join(''),
    first: chunks[0], last: chunks[chunks.length - 1] }));
});
out.cancelled = await new Promise((resolve) => {
  let chunks = 0;
  const call = client.Chat({ model, messages: [{ role: 'user', content: '' }],
    sampling: { temperature: 0, max_tokens: 400 } }, meta());
  call.on('data', (c) => { chunks++; if (c.delta && chunks >= 3) call.cancel(); });
  call.on('error', (e) => resolve({ chunks, code: e.code, codeName: grpc.status[e.code] }));
  call.on('end', () => resolve({ chunks, code: 0, codeName: 'OK' }));
});
out.embed = await unary(client, 'Embed', { input: ['hello world'] });
if (out.embed.data) {
  const v = out.embed.data[0].values;
  out.embed = { model: out.embed.model, count: out.embed.data.length, dim: v.length,
    norm: Math.sqrt(v.reduce((s, x) => s + x * x, 0)), prompt_tokens: out.embed.prompt_tokens };
}
out.badRequest = await unary(client, 'Complete', { model, prompt: '', sampling: { temperature: 9 } });
out.unknownModel = await unary(client, 'Complete', { model: 'no-such-model', prompt: 'x', sampling: greedy });
out.health = await unary(health, 'Check', { service: 'companion.v1.Assistant' });
out.healthAll = await unary(health, 'Check', { service: '' });

client.close();
health.close();
console.log(JSON.stringify(out));
