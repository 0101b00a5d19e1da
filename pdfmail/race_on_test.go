//go:build race

package pdfmail

const raceEnabled = true
