//go:build !race

package limit_test

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = false
