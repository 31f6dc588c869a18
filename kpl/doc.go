// Package kpl reads and writes the aggregated records of the Kinesis
// Producer Library (KPL): many small user records packed into the data of
// one Kinesis record, so that a shard's limit of 1,000 records a second
// counts Kinesis records, not user records. The Go client's Producer packs
// with an Aggregator when asked to, and every consumer path unpacks with
// Deaggregate; records written by the KPL, by AWS Labs' aws-kinesis-agg
// libraries or by this package read alike.
//
// # Format
//
// An aggregate is the data of one Kinesis record:
//
//	+-------------+------------------------------+----------------------------+
//	| magic       | protobuf AggregatedRecord    | MD5 of the protobuf bytes  |
//	| F3 89 9A C2 | (any length)                 | 16 B                       |
//	+-------------+------------------------------+----------------------------+
//
// The protobuf messages (proto2) are
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//	message Tag {
//	  required string key   = 1;
//	  optional string value = 2;
//	}
//
// A user record's partition key is partition_key_table[partition_key_index],
// its explicit hash key (a decimal 128-bit integer) is
// explicit_hash_key_table[explicit_hash_key_index] when that index is
// present, and its sub-sequence number is its 0-based position among the
// records. The Kinesis record carrying an aggregate takes the partition key
// and explicit hash key of its first user record, so that it is stored in
// the shard that record would have gone to.
//
// # What is an aggregate
//
// Data is read as an aggregate only when all of it is well formed: the
// magic, a matching MD5, a protobuf with nothing truncated or of the wrong
// wire type, every required field present, every index inside its table,
// and at least one user record. Anything else (a plain record that happens
// to start with the magic, a damaged aggregate) is delivered as the one
// plain record it is: nothing is dropped. Unknown fields are skipped, as
// protobuf readers do; tags are checked for shape and otherwise ignored.
//
// After a reshard, an aggregate may hold user records whose hash keys now
// belong to another shard. The KCL drops such records; Deaggregate delivers
// every user record, whatever its hash key.
package kpl
