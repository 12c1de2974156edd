// Package pipeline loads the pipeline file as the sinks and auditctl read
// it: every destination's block decoded and checked by the package that
// delivers to it (s3sink, ddsink), and the redacted fields checked by the
// package that redacts.
package pipeline

import (
	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/sinks/internal/ddsink"
	"github.com/auditstream/auditstream/sinks/internal/redact"
	"github.com/auditstream/auditstream/sinks/internal/s3sink"
)

// Options are the loader's options for the whole file.
func Options() []config.Option {
	return []config.Option{
		config.WithDestinations(s3sink.Destination{}, ddsink.Destination{}),
		config.WithRedactFields(redact.CheckField),
	}
}

// Load reads, decodes and checks the whole pipeline file (config.Load with
// Options). It resolves no secret: see config.Pipeline.CheckSecrets.
func Load(path string) (*config.Pipeline, error) {
	return config.Load(path, Options()...)
}
