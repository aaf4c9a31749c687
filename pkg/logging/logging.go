// Package logging builds the structured slog logger both programs use, from LOG_FORMAT and LOG_LEVEL.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Formats lists the accepted LOG_FORMAT values.
const Formats = "text|json"

// Levels lists the accepted LOG_LEVEL values.
const Levels = "debug|info|warn|error"

// New returns a logger writing to w in format ("text" or "json") at level ("debug", "info", "warn" or "error").
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want one of %s", level, Levels)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want one of %s", format, Formats)
}
