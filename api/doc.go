// Package api holds the types that a sluice server and its clients share:
// sequence numbers (SeqNum) and hash keys (HashKey), positions, records to put
// and their results, stream, shard and consumer descriptions, iterator
// specifications, durability and stream modes, the limits of the API, and
// errors as data (Error: a Code, a Reason and the names and numbers
// involved).
//
// It is a leaf: it imports nothing of sluice but ratelimit's plain Limits, so
// that a program that imports the Go client links no storage code. Each front
// door words an Error in its own language; Error.Error is the plain wording
// the binary protocol and the CLI use.
package api
