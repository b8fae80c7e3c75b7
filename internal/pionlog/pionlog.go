// Package pionlog routes pion's logs to a log/slog logger, so that a host
// sees them where it sees ianua's own and can silence them the same way.
//
// It imports nothing of ianua's.
package pionlog

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// Factory is a pion logging.LoggerFactory writing to an slog.Logger.
type Factory struct {
	Logger *slog.Logger
}

// NewLogger implements logging.LoggerFactory.
func (f Factory) NewLogger(scope string) logging.LeveledLogger {
	return logger{l: f.Logger.With("pion", scope)}
}

type logger struct{ l *slog.Logger }

func (g logger) log(level slog.Level, msg string) {
	g.l.Log(context.Background(), level, msg)
}

func (g logger) logf(level slog.Level, format string, args ...any) {
	if g.l.Enabled(context.Background(), level) {
		g.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

// Pion's trace level is finer than slog's debug; it goes to debug-4. Its
// info level is chatty (congestion-control updates many times a second),
// so it goes to debug: ianua's own info logs stay readable.
const levelTrace = slog.LevelDebug - 4

func (g logger) Trace(msg string)                  { g.log(levelTrace, msg) }
func (g logger) Tracef(format string, args ...any) { g.logf(levelTrace, format, args...) }
func (g logger) Debug(msg string)                  { g.log(slog.LevelDebug, msg) }
func (g logger) Debugf(format string, args ...any) { g.logf(slog.LevelDebug, format, args...) }
func (g logger) Info(msg string)                   { g.log(slog.LevelDebug, msg) }
func (g logger) Infof(format string, args ...any)  { g.logf(slog.LevelDebug, format, args...) }
func (g logger) Warn(msg string)                   { g.log(slog.LevelWarn, msg) }
func (g logger) Warnf(format string, args ...any)  { g.logf(slog.LevelWarn, format, args...) }
func (g logger) Error(msg string)                  { g.log(slog.LevelError, msg) }
func (g logger) Errorf(format string, args ...any) { g.logf(slog.LevelError, format, args...) }
