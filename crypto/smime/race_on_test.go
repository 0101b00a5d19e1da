//go:build race

package smime

const raceEnabled = true
