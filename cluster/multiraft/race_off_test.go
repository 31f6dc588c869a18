//go:build !race

package multiraft

const raceOn = false
