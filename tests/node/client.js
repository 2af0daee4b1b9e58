// Drives a running tracegraph server from Node.js with only the .proto files (proto/ as the
// include root), as a non-Python team would. Usage: node client.js HOST:PORT LOT_KEY
// Prints one JSON object: the downstream trace keys of LOT_KEY and its impact summary.
"use strict";
const path = require("path");
const grpc = require("@grpc/grpc-js");
const loader = require("@grpc/proto-loader");

const root = path.resolve(__dirname, "..", "..", "proto");
const definition = loader.loadSync(path.join(root, "server/rpc/genealogy.proto"), {
  includeDirs: [root], keepCase: true, longs: Number, enums: String, defaults: true,
});
const v1 = grpc.loadPackageDefinition(definition).tracegraph.v1;
const [target, lot] = process.argv.slice(2);
const client = new v1.Genealogy(target, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 30000);

function collect(call, onMessage) {
  return new Promise((resolve, reject) => {
    call.on("data", onMessage);
    call.on("error", reject);
    call.on("end", resolve);
  });
}

async function main() {
  const trace = { keys: [], kinds: [], depths: [], total: 0 };
  let kindNames = [];
  await collect(client.Trace({ seeds: [lot], direction: "DOWNSTREAM" }, { deadline: deadline() }),
    (chunk) => {
      if (chunk.kind_names.length) kindNames = chunk.kind_names;
      if (Number(chunk.total_rows)) trace.total = Number(chunk.total_rows);
      trace.keys.push(...chunk.keys);
      trace.kinds.push(...chunk.kind_codes.map((c) => kindNames[c]));
      trace.depths.push(...chunk.depths);
    });
  let summary = null;
  await collect(client.Impact({ seeds: [lot], include_rows: false }, { deadline: deadline() }),
    (chunk) => { if (chunk.summary) summary = chunk.summary; });
  const missing = await new Promise((resolve) => {
    client.GetNode({ key: "no-such-key" }, { deadline: deadline() }, (error) => {
      resolve({ code: error ? error.code : 0, details: error ? error.details : "" });
    });
  });
  process.stdout.write(JSON.stringify({ trace, summary, missing }) + "\n");
  client.close();
}

main().catch((error) => { console.error(String(error)); process.exit(1); });
