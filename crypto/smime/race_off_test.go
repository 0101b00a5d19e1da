//go:build !race

package smime

const raceEnabled = false
