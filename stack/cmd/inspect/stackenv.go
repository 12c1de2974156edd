package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// brokers picks the bootstrap brokers: the flag, else $AUDITSTREAM_BROKERS,
// else the running local stack's address from the first .stack/env found in
// dir or a parent (from names that file), else 127.0.0.1:9092.
//
// producer/cmd/producer has the same lookup. It is duplicated because no
// package both commands import fits it: this module's other packages are
// test helpers, and the producer module is a published SDK.
func brokers(flag string, getenv func(string) string, dir string) (addrs, from string) {
	if flag != "" {
		return flag, ""
	}
	if v := getenv("AUDITSTREAM_BROKERS"); v != "" {
		return v, ""
	}
	for {
		env := filepath.Join(dir, ".stack", "env")
		if f, err := os.Open(env); err == nil {
			defer f.Close()
			// stack/up.sh lists only running services, and writes
			// this address bare (host:port,...), never quoted.
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export AUDITSTREAM_BROKERS="); ok && v != "" {
					return v, env
				}
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "127.0.0.1:9092", ""
}
