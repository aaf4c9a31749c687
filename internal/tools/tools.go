//go:build tools

// Package tools pins modules the programs depend on before any package imports them.
package tools

import (
	_ "github.com/oklog/run"
	_ "gocv.io/x/gocv"
)
