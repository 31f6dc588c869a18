//go:build race

package e2e

// raceEnabled is set when the test runs under the race detector: the
// binaries are then built with -race too, which reuses the instrumented
// packages `go test -race ./...` already compiled and checks the server
// and the CLI for races under real load.
const raceEnabled = true
