//go:build race

package multiraft

// raceOn: the race detector slows the scheduler about tenfold; the largest
// tests shrink under it to stay quick.
const raceOn = true
