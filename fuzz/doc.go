// Package fuzz holds fuzz properties that cross package boundaries: what the
// engine makes of arbitrary bytes in the files it reads at start-up. Each
// decoder's own fuzz target sits next to it (segment.FuzzDecodeFrame,
// segment.FuzzRecover, index.FuzzUnmarshal, wire, kinesis); the targets here
// drive whole components over those decoders.
package fuzz
