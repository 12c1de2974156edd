package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// config is what the command line sets.
type config struct {
	listen      string
	allowRemote bool
	apiKeyEnv   string
	apiKeyFile  string
	addrFile    string
}

// parseFlags parses args. It returns flag.ErrHelp, after printing the usage to
// stderr, when asked for help.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("ddintake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "`address` to listen on; port 0 picks a free port")
	fs.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow a --listen address other than loopback")
	fs.StringVar(&cfg.apiKeyEnv, "api-key-env", "", "`name` of an environment variable holding the accepted API keys, separated by commas or spaces")
	fs.StringVar(&cfg.apiKeyFile, "api-key-file", "", "`path` of a file holding the accepted API keys, one per line (# starts a comment)")
	fs.StringVar(&cfg.addrFile, "addr-file", "", "`path` to write the listening address to, once listening")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ddintake --api-key-env NAME | --api-key-file PATH [flags]")
		fmt.Fprintln(stderr, "Serves a Datadog Logs intake test server (POST /api/v2/logs, controls under /_intake/).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		// The arguments are not echoed: they may be a key pasted in by mistake.
		return config{}, fmt.Errorf("unexpected %d positional arguments (API keys are never taken from the command line)", fs.NArg())
	}
	return cfg, nil
}

// loadAPIKeys reads the accepted API keys from the environment variable named
// envName and from the file at path, whichever are set. It never puts a key in
// an error.
func loadAPIKeys(envName, path string, getenv func(string) string) ([]string, error) {
	if envName == "" && path == "" {
		return nil, errors.New("no source of API keys: set --api-key-env or --api-key-file")
	}
	var keys []string
	if envName != "" {
		fromEnv := strings.FieldsFunc(getenv(envName), func(r rune) bool {
			return r == ',' || r == ' ' || r == '\t' || r == '\n'
		})
		if len(fromEnv) == 0 {
			return nil, fmt.Errorf("environment variable %s is unset or empty", envName)
		}
		keys = append(keys, fromEnv...)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read api key file: %w", err)
		}
		var fromFile []string
		for line := range strings.Lines(string(data)) {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				fromFile = append(fromFile, line)
			}
		}
		if len(fromFile) == 0 {
			return nil, fmt.Errorf("api key file %s holds no key", path)
		}
		keys = append(keys, fromFile...)
	}
	return keys, nil
}
