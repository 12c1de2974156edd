// Package kafkalog connects franz-go's logging to slog at warning level.
// franz-go logs every transaction and rebalance step at info, which buries
// a service's own lines; its warnings and errors are what an operator needs.
package kafkalog

import (
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// New returns a kgo.Logger that passes warnings and errors to l.
func New(l *slog.Logger) kgo.Logger { return warnings{kslog.New(l)} }

type warnings struct{ *kslog.Logger }

func (w warnings) Level() kgo.LogLevel { return min(w.Logger.Level(), kgo.LogLevelWarn) }
