// Load generator for the throughput benchmark: CLIENTS concurrent callers, each on its own
// connection, send TraceUnary (one unit, upstream) back to back for CALLS calls each.
// Written in Node.js so that the load costs far less CPU than a Python client would on the
// same 2-core machine. Usage: node unary_load.js HOST:PORT UNITS.json CLIENTS CALLS
// Prints one JSON object: calls, seconds, calls_per_second, p50_ms, p99_ms, errors.
"use strict";
const fs = require("fs");
const path = require("path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");

const root = path.resolve(__dirname, "..", "..", "proto");
const definition = loader.loadSync(path.join(root, "server/rpc/genealogy.proto"), {
  includeDirs: [root], keepCase: true, longs: Number, enums: String, defaults: false,
});
const v1 = grpc.loadPackageDefinition(definition).tracegraph.v1;
const [target, unitsFile, clientsArg, callsArg] = process.argv.slice(2);
const units = JSON.parse(fs.readFileSync(unitsFile, "utf8"));
const clients = Number(clientsArg);
const calls = Number(callsArg);

function call(client, unit) {
  return new Promise((resolve, reject) => {
    client.TraceUnary({ seeds: [unit], direction: "UPSTREAM" },
      { deadline: new Date(Date.now() + 5000) },
      (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

async function caller(index, latencies, counts) {
  // One connection per caller, as separate ERP clients would have.
  const client = new v1.Genealogy(target, grpc.credentials.createInsecure(),
    { "grpc.use_local_subchannel_pool": 1 });
  await call(client, units[index % units.length]);  // connect and warm up outside the clock
  await barrier;
  for (let i = 0; i < calls; i++) {
    const started = process.hrtime.bigint();
    try {
      const reply = await call(client, units[(index * 37 + i) % units.length]);
      if (!reply.total_rows) counts.empty++;
    } catch (error) {
      counts.errors++;
    }
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  client.close();
}

let release;
const barrier = new Promise((resolve) => { release = resolve; });

async function main() {
  const latencies = [];
  const counts = { errors: 0, empty: 0 };
  const running = [];
  for (let i = 0; i < clients; i++) running.push(caller(i, latencies, counts));
  await new Promise((resolve) => setTimeout(resolve, 500));  // let every caller connect
  const started = process.hrtime.bigint();
  release();
  await Promise.all(running);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  process.stdout.write(JSON.stringify({
    calls: latencies.length, seconds, calls_per_second: latencies.length / seconds,
    p50_ms: at(0.5), p99_ms: at(0.99), errors: counts.errors, empty: counts.empty,
  }) + "\n");
}

main().catch((error) => { console.error(String(error)); process.exit(1); });
