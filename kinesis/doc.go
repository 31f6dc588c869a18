// Package kinesis is sluice's Kinesis-compatible HTTP API: the wire side that
// lets unmodified AWS SDKs, the AWS CLI and the tools built on them talk to
// the engine.
//
// Handler (handler.go) serves the API on an engine: POST requests on any
// path, dispatched on X-Amz-Target, over HTTP/1.1 and HTTP/2 (h2c with prior
// knowledge when the server enables it). Every operation of operations.go is
// served: data.go (PutRecord, PutRecords, GetShardIterator, GetRecords),
// subscribe.go (SubscribeToShard), streams.go (stream lifecycle and
// settings), shards.go (ListShards and resharding), resources.go (tags,
// consumers, resource policies). Requests are checked in AWS's order:
// method, content type, operation, SigV4 form (signatures are not verified;
// the access key id goes on the request context), body size (413), body
// syntax (SerializationException), member constraints (validate.go:
// ValidationException in AWS's wording), then the operation, whose engine
// errors come back under their Kinesis names. Stream-addressed requests take
// StreamName, StreamARN or both (resolve.go). NextTokens of the list
// operations are HMAC-protected and expire after 300 s (nexttoken.go).
//
// With Options.Auth, every operation is authorized (authorize.go) as its IAM
// action ("kinesis:PutRecords") on its resource: the stream, the consumer
// (DescribeStreamConsumer, DeregisterStreamConsumer, SubscribeToShard), the
// ResourceARN of the tagging and policy operations, or "*" (ListStreams,
// DescribeLimits). The user's identity policy and the resource's policy are
// judged together once the members naming the resource are valid and before
// the resource is looked up, so that a refusal (AccessDeniedException in
// AWS's words) neither has an effect nor tells whether the resource exists.
// PutResourcePolicy stores only policies the auth package can enforce. With
// Options.Audit, each mutating or refused request leaves a line in the audit
// log.
//
// The engine-independent half:
//
//   - shapes_*.go: the request and response shapes of every served operation,
//     with the member names of the AWS model (operations.go maps
//     X-Amz-Target names to operations and input shapes);
//   - codec.go, putrecords_decode.go, records_writer.go: request decoding and
//     response encoding in application/x-amz-json-1.1 and
//     application/x-amz-cbor-1.1, with allocation-free paths for PutRecords,
//     GetRecords and SubscribeToShard events; jsonreader.go and cbor.go are
//     the readers under both, behind the small interface of tokens.go, which
//     also holds the decoder limits (nesting, entries, string lengths) that
//     bound what a hostile body can cost; bodycheck.go holds the bodies of
//     the other operations to them, and their lists and strings to the
//     model's lengths, before the reflective decoders run;
//   - errors.go: the AWS error names, statuses and error bodies;
//   - eventstream.go: application/vnd.amazon.eventstream messages (encoded;
//     the tests' decoder is in eventstream_decode_test.go);
//   - sigv4.go: parsing of SigV4 Authorization headers and presigned queries;
//   - iterator.go: shard iterator tokens;
//   - arn.go: stream and consumer ARNs.
//
// # Body formats
//
// Both formats carry the same shapes. JSON writes blobs as standard base64
// strings and timestamps as epoch seconds (1700000000.123). CBOR writes blobs
// as byte strings and timestamps as integer epoch milliseconds; requests from
// the Java SDK put tag 1 before them and use indefinite-length maps, arrays
// and (for long text) strings, all of which are accepted. Hot-path responses
// use indefinite-length maps and arrays too, since their sizes are not known
// when the first record is written.
//
// # Event-stream messages
//
// A SubscribeToShard response is a sequence of messages (all integers big
// endian, both CRCs CRC-32 IEEE):
//
//	| total length u32 | headers length u32 | prelude CRC u32 | headers | payload | message CRC u32 |
//	                                          CRC of the first 8 bytes        CRC of all bytes before it
//
//	header: | name length u8 | name | type u8 | value |
//	        type 7 (string): | length u16 | UTF-8 bytes |   (0 true, 1 false, 2 i8, 3 i16, 4 i32,
//	                                                          5 i64, 6 bytes, 8 timestamp, 9 uuid)
//
// The first message is the initial-response event; then come
// SubscribeToShardEvent events (headers :message-type event, :event-type,
// :content-type) and, to end a subscription with an error, an exception
// message (:message-type exception, :exception-type <error name>).
//
// # NextTokens
//
// A NextToken of ListShards, ListStreams or ListStreamConsumers is the
// standard base64 of
//
//	| version u8 = 1 | kind u8 | issued epoch ms u64 | incarnation u32 |
//	| filter type u8 | filter timestamp epoch ms u64 |
//	| stream u8-prefixed | after u8-prefixed | filter shard id u8-prefixed | tag 16 B |
//
// (kind: which operation issued it; after: the last item of the page), with
// an HMAC-SHA256 tag under a key derived from the iterator key.
//
// # Shard iterators
//
// A shard iterator is the standard base64 (with padding) of
//
//	| version u8 = 2 | issued epoch ms u64 | serial u32 | incarnation u64 | next sequence u64 |
//	| stream name length u8 | stream name | shard id length u8 | shard id | tag 16 B |
//
// where serial counts the tokens a server issues (so that tokens for one
// position issued in the same millisecond differ) and tag is
// HMAC-SHA256(server key, all preceding bytes) truncated to 128 bits. With
// names of at most 128 bytes a token is at most 404 characters, inside the
// API's 512.
package kinesis
