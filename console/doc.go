// Package console is sluice's web console: a small single-page application
// served from the binary (go:embed) under /console/ on the --http address,
// and the JSON API under /console/api/ that feeds it.
//
// The console shows the streams a server holds (with live write and read
// rates and throttles), a stream's shards drawn over the hash key space with
// their lineage and share of the traffic, live per-shard charts, a record
// browser, and the stream's enhanced fan-out consumers; it creates and
// deletes streams, splits, merges and rescales shards, and changes retention
// and tags. It calls the engine directly and reads the same per-shard
// counters as /metrics; a sampler keeps a few minutes of them in memory so
// that a new tab's charts start with data.
//
// Without a users file the console is as open as the Kinesis door. With one
// (sluiced --auth), a visitor signs in with an access key id and secret and
// holds a server-side session: an HttpOnly, SameSite=Strict cookie, and a
// CSRF token that every action must send back in the X-CSRF-Token header.
// Every request is judged by auth.Authorize with the IAM action the Kinesis
// door uses for the same operation ("kinesis:SplitShard" on the stream's
// ARN, with the stream's resource policy), so the console shows and permits
// exactly what the user's policy allows.
//
// docs/console.md documents the API and shows the pages.
package console
