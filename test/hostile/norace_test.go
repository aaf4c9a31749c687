//go:build !race

package hostile

// raceEnabled: these tests run with -race, so the programs under test are built with it too.
const raceEnabled = false
