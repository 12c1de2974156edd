// Package config loads the pipeline configuration: one YAML file that every
// Auditstream service reads (the router, every sink, the setup and validate
// commands).
//
// Loading is strict. An unknown key, a bad value, a duplicate connector id, a
// malformed glob or a malformed or missing secret reference stops the
// service at start with the file, the line and the reason, for example:
//
//	pipeline.yaml:14: connectors[1].filter.actions.include[0]: bad glob "Login[": syntax error in pattern
//
// A connector's destination block (s3:, datadog:) belongs to the package
// that delivers to it: it implements Destination, and the processes that
// deliver pass it to Load. This package keeps the loader, the
// pipeline-wide settings and the file:line reporting.
//
// Secrets are never written inline. A secret is a reference, {env: NAME} or
// {file: PATH}, resolved when it is used, so that a rotated key file is
// picked up without a restart and the value never sits in the config struct.
// Loading resolves none: each process resolves, at start, only the secrets
// of its own scope (Pipeline.CheckSecrets), so the router never holds a
// destination's key and a sink holds only its own connector's.
package config
