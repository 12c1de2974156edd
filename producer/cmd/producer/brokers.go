package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// defaultBrokers is where Kafka usually listens outside the local stack.
const defaultBrokers = "127.0.0.1:9092"

// brokers are the bootstrap addresses a command uses, and where they came
// from, so that a message about them can say how to change them.
type brokers struct {
	addrs string
	from  string // "from --brokers", "from $AUDITSTREAM_BROKERS", "from /repo/.stack/env", ...
	stack bool   // found in the local stack's .stack/env
}

// findBrokers picks the brokers when --brokers is not given:
// $AUDITSTREAM_BROKERS, else the local stack's address from the first
// .stack/env found in dir or one of its parents, else defaultBrokers.
//
// The local stack (make up) listens on 19092, not 9092, and lists in
// .stack/env only the services that are running: without this a newcomer
// who did not source that file publishes into the void.
func findBrokers(getenv func(string) string, dir string) (brokers, error) {
	if v := getenv("AUDITSTREAM_BROKERS"); v != "" {
		return brokers{addrs: v, from: "from $AUDITSTREAM_BROKERS"}, nil
	}
	env, addrs, err := stackBrokers(dir)
	if err != nil {
		return brokers{}, err
	}
	if addrs != "" {
		return brokers{addrs: addrs, from: "from " + env, stack: true}, nil
	}
	return brokers{addrs: defaultBrokers, from: "the default: no --brokers, --config, $AUDITSTREAM_BROKERS or .stack/env names any"}, nil
}

// stackBrokers finds .stack/env in dir or the nearest parent that has one
// and returns its path and its AUDITSTREAM_BROKERS, "" when the stack's
// Kafka is not running. It returns "", "" when there is no such file.
func stackBrokers(dir string) (env, addrs string, err error) {
	for {
		env = filepath.Join(dir, ".stack", "env")
		f, err := os.Open(env)
		if err == nil {
			defer f.Close()
			addrs, err := envValue(f, "AUDITSTREAM_BROKERS")
			if err != nil {
				return "", "", fmt.Errorf("read %s: %w", env, err)
			}
			return env, addrs, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", nil
		}
		dir = parent
	}
}

// envValue reads name from "export NAME=value" lines, as stack/up.sh writes
// them: a value is bare, or single-quoted the shell's way.
func envValue(r io.Reader, name string) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != name {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, `'`)
		}
		return v, nil
	}
	return "", sc.Err()
}
