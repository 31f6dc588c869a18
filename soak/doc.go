// Package soak runs a real sluiced process under hostile load next to
// normal producers, and then checks that the server kept every record it
// acknowledged and stayed within a memory bound.
//
// Run starts the server on a temporary data directory with short
// timeouts and a server-wide in-flight budget of 256 MiB, and for the
// configured duration drives it with:
//
//   - producers that put records through the Go client (binary protocol)
//     and through the Kinesis HTTP API, remembering every acknowledged
//     sequence number;
//   - hostile clients: requests that declare a large body or frame and
//     send almost none of it, garbage bytes on both ports, readers of
//     GetRecords, Read and subscriptions (SubscribeToShard and the binary
//     Subscribe) that stop reading, and bursts of connections that are
//     opened and dropped.
//
// At the end it reads every shard back from its start through the Go
// client and checks that each acknowledged record is there, at its
// sequence number, byte for byte, and that every stored record is one
// the producers sent. It reports the peak resident set of the server
// (VmHWM from /proc) and checks it against a bound made of the run's terms
// (memoryBound), and reports the records acknowledged and the hostile
// connections made.
//
// The same code runs for about ten seconds inside `go test` and for
// minutes under `make soak` (SOAKTIME=3m). The helpers that start the
// server, read its memory and mount the attacks are exported for the
// end-to-end tests in e2e/.
package soak
