// The unmodified AWS SDK for JavaScript v3 in a web page: e2e/browser_test.go
// bundles this file with esbuild for the browser (the SDK's browser runtime,
// fetch and all) and calls runKinesis from a page whose origin is not
// sluiced's, so that every call goes through CORS. It returns one JSON
// string of what the calls answered.
import {
  KinesisClient, CreateStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand,
  GetShardIteratorCommand, GetRecordsCommand,
} from "@aws-sdk/client-kinesis";

// errorOf keeps what a client reads of a refused call.
function errorOf(e) {
  return {
    name: e.name || "",
    message: e.message || "",
    status: e.$metadata?.httpStatusCode || 0,
    requestId: e.$metadata?.requestId || "",
  };
}

window.runKinesis = async (endpoint, accessKeyId, secretAccessKey, stream) => {
  const client = new KinesisClient({
    endpoint, region: "us-east-1", credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1,
  });
  const out = { records: [], errors: {}, requestId: "" };
  try {
    const created = await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 1 }));
    out.requestId = created.$metadata.requestId || "";
    const deadline = Date.now() + 10000;
    for (;;) {
      const d = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
      if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") break;
      if (Date.now() > deadline) throw new Error("stream not ACTIVE after 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    const enc = new TextEncoder();
    const put = await client.send(new PutRecordCommand({
      StreamName: stream, PartitionKey: "k", Data: enc.encode("hello from a browser"),
    }));
    out.shardId = put.ShardId;
    const it = await client.send(new GetShardIteratorCommand({
      StreamName: stream, ShardId: put.ShardId, ShardIteratorType: "TRIM_HORIZON",
    }));
    const got = await client.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
    const dec = new TextDecoder();
    out.records = got.Records.map((r) => dec.decode(r.Data));
    // Refusals reach the page with their type, message and request id.
    try {
      await client.send(new DescribeStreamSummaryCommand({ StreamName: "no-such-stream" }));
    } catch (e) {
      out.errors.notFound = errorOf(e);
    }
    try {
      await client.send(new CreateStreamCommand({ StreamName: "a b", ShardCount: 0 }));
    } catch (e) {
      out.errors.validation = errorOf(e);
    }
  } catch (e) {
    out.error = String(e && e.stack || e);
  }
  return JSON.stringify(out);
};
