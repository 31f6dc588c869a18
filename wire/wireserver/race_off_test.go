//go:build !race

package wireserver

const raceEnabled = false
