// AWS Labs' aws-kinesis-agg against sluice's KPL aggregates, driven by
// e2e/kpl_test.go through stdin and stdout (JSON; record data in base64):
//
//   node kpl.mjs aggregate    [{partitionKey, explicitHashKey?, data}] -> [{partitionKey, explicitHashKey?, data}]
//                             (the Kinesis records the module's RecordAggregator makes of the user records)
//   node kpl.mjs deaggregate  [{partitionKey, sequenceNumber, data}] -> [{partitionKey, explicitHashKey?, sequenceNumber, subSequenceNumber?, data}]
//                             (the user records the module's deaggregateSync reads, checking MD5s)
//   node kpl.mjs vectors      -> the test vectors in kpl/testdata/vectors.json: fixed user records and the
//                             aggregates the module makes of them (hex)
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const agg = require('aws-kinesis-agg');

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function aggregate(records) {
  const out = [];
  const aggregator = new agg.RecordAggregator();
  const take = (err, encoded) => {
    if (err) throw err;
    if (!encoded) return;
    const r = { partitionKey: encoded.partitionKey, data: encoded.data.toString('base64') };
    if (encoded.ExplicitHashKey !== undefined) r.explicitHashKey = encoded.ExplicitHashKey;
    out.push(r);
  };
  aggregator.aggregateRecords(records.map((r) => {
    const u = { partitionKey: r.partitionKey, data: Buffer.from(r.data, 'base64') };
    if (r.explicitHashKey !== undefined) u.explicitHashKey = r.explicitHashKey;
    return u;
  }), true, take);
  return out;
}

function deaggregate(records) {
  const out = [];
  for (const r of records) {
    agg.deaggregateSync({ partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber, data: r.data }, true, (err, users) => {
      if (err) throw err;
      for (const u of users) {
        const o = { partitionKey: u.partitionKey, sequenceNumber: u.sequenceNumber, data: u.data };
        if (u.explicitPartitionKey !== undefined) o.explicitHashKey = u.explicitPartitionKey;
        if (u.subSequenceNumber !== undefined) o.subSequenceNumber = u.subSequenceNumber;
        out.push(o);
      }
    });
  }
  return out;
}

// vectors are fixed sets of user records (data in UTF-8 here) covering
// what the format has: repeated and distinct keys, explicit hash keys,
// empty data, multi-byte lengths and keys, more distinct keys than
// kpl's deaggregator keeps on its stack. No key here is a canonical
// decimal below 2^32-1: the module builds its tables with Object.keys,
// which lists such keys ("0", "17") before all others, out of the order
// of the indices it wrote, so its aggregates of them give user records
// the wrong keys (kpl reads those bytes as they are).
function vectors() {
  const sets = {
    'one record': [{ partitionKey: 'k', data: 'hello' }],
    'repeated key': [{ partitionKey: 'user-1', data: 'a' }, { partitionKey: 'user-1', data: 'b' }, { partitionKey: 'user-2', data: 'c' }, { partitionKey: 'user-1', data: 'd' }],
    'explicit hash keys': [
      { partitionKey: 'p', explicitHashKey: '340282366920938463463374607431768211455', data: 'top of the range' },
      { partitionKey: 'q', data: 'no explicit hash key' },
      { partitionKey: 'p', explicitHashKey: '4294967295', data: 'low' },
      { partitionKey: 'r', explicitHashKey: '340282366920938463463374607431768211455', data: 'top again' },
    ],
    'empty data': [{ partitionKey: 'e', data: '' }, { partitionKey: 'e', data: 'x' }],
    'unicode keys': [{ partitionKey: 'clé-ü-日本', data: 'données' }, { partitionKey: '🙂', data: '☃' }],
    'long record': [{ partitionKey: 'k'.repeat(256), data: 'x'.repeat(300) }, { partitionKey: 'short', data: 'y'.repeat(20000) }],
    'forty keys': Array.from({ length: 40 }, (_, i) => ({ partitionKey: `key-${i}`, data: `record ${i}` })),
  };
  return Object.entries(sets).map(([name, records]) => {
    const encoded = aggregate(records.map((r) => ({ ...r, data: Buffer.from(r.data).toString('base64') })));
    if (encoded.length !== 1) throw new Error(`${name}: ${encoded.length} aggregates`);
    const e = encoded[0];
    return {
      name,
      records: records.map((r) => ({ ...r, data: Buffer.from(r.data).toString('base64') })),
      partitionKey: e.partitionKey,
      explicitHashKey: e.explicitHashKey,
      aggregate: Buffer.from(e.data, 'base64').toString('hex'),
    };
  });
}

const mode = process.argv[2];
if (mode === 'vectors') {
  process.stdout.write(JSON.stringify(vectors(), null, 1) + '\n');
  process.exit(0);
}
const input = await readStdin();
let result;
if (mode === 'aggregate') result = aggregate(input);
else if (mode === 'deaggregate') result = deaggregate(input);
else {
  console.error(`usage: node kpl.mjs aggregate|deaggregate < records.json (got ${mode})`);
  process.exit(2);
}
process.stdout.write(JSON.stringify(result));
