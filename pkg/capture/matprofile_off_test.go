//go:build !matprofile

package capture

// Without -tags matprofile gocv keeps no count of live Mats: the leak
// checks are skipped (run the tests with -tags matprofile).
const matProfileOn = false

func matCount() int { return 0 }

func matProfileDump() string { return "" }
