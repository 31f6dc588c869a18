// Drives sluiced's Kinesis API with the AWS SDK for JavaScript v3 over
// HTTPS and HTTP/2 (NodeHttp2Handler: ALPN must choose h2, or every call
// fails). The CA of the server's certificate comes from NODE_EXTRA_CA_CERTS.
// e2e/tls_test.go runs it and reads the one JSON line it prints.
//
//   SLUICE_ENDPOINT=https://127.0.0.1:PORT NODE_EXTRA_CA_CERTS=ca.pem node kinesis.mjs
import {
  KinesisClient, CreateStreamCommand, PutRecordCommand, PutRecordsCommand, ListShardsCommand,
  GetShardIteratorCommand, GetRecordsCommand, DescribeStreamSummaryCommand, RegisterStreamConsumerCommand,
  DescribeStreamConsumerCommand, SubscribeToShardCommand,
} from "@aws-sdk/client-kinesis";
import { NodeHttp2Handler } from "@smithy/node-http-handler";
import http2 from "node:http2";

const endpoint = process.env.SLUICE_ENDPOINT;
const stream = process.env.SLUICE_STREAM || "js-orders";
const client = new KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: {
    accessKeyId: process.env.AWS_ACCESS_KEY_ID || "AKIAJSTEST0000000001",
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || "js-test-secret-0123456789",
  },
  requestHandler: new NodeHttp2Handler({ requestTimeout: 10000, sessionTimeout: 10000 }),
  maxAttempts: 1,
});

const enc = new TextEncoder();
const dec = new TextDecoder();
const result = { records: [], pushed: [], protocol: "" };
try {
  // The protocol ALPN picks for a client that offers only h2, as
  // NodeHttp2Handler does.
  result.protocol = await new Promise((resolve, reject) => {
    const session = http2.connect(endpoint);
    session.on("error", reject);
    session.on("connect", () => {
      const p = session.alpnProtocol;
      session.close();
      resolve(p);
    });
  });
  await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
  await client.send(new PutRecordCommand({ StreamName: stream, PartitionKey: "k", Data: enc.encode("one") }));
  const batch = await client.send(new PutRecordsCommand({
    StreamName: stream,
    Records: ["two", "three"].map((d) => ({ PartitionKey: "k", Data: enc.encode(d) })),
  }));
  if (batch.FailedRecordCount) throw new Error(`PutRecords: ${batch.FailedRecordCount} failed`);
  const shards = await client.send(new ListShardsCommand({ StreamName: stream }));
  const shardId = shards.Shards[0].ShardId;
  const it = await client.send(new GetShardIteratorCommand({
    StreamName: stream, ShardId: shardId, ShardIteratorType: "TRIM_HORIZON",
  }));
  const got = await client.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
  result.records = got.Records.map((r) => dec.decode(r.Data));

  // Enhanced fan-out: SubscribeToShard's event stream over the same HTTP/2
  // connection.
  const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  const reg = await client.send(new RegisterStreamConsumerCommand({
    StreamARN: summary.StreamDescriptionSummary.StreamARN, ConsumerName: "js",
  }));
  const consumerARN = reg.Consumer.ConsumerARN;
  for (let i = 0; i < 100; i++) {
    const c = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumerARN }));
    if (c.ConsumerDescription.ConsumerStatus === "ACTIVE") break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const sub = await client.send(new SubscribeToShardCommand({
    ConsumerARN: consumerARN, ShardId: shardId, StartingPosition: { Type: "TRIM_HORIZON" },
  }));
  for await (const ev of sub.EventStream) {
    if (ev.SubscribeToShardEvent) {
      for (const r of ev.SubscribeToShardEvent.Records) result.pushed.push(dec.decode(r.Data));
      if (result.pushed.length >= 3) break;
    }
  }
  console.log(JSON.stringify(result));
  client.destroy();
  process.exit(0);
} catch (err) {
  console.log(JSON.stringify({ error: `${err.name}: ${err.message}` }));
  client.destroy();
  process.exit(1);
}
