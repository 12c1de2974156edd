// Command embedded-kafka runs franz-go's kfake, an in-process Kafka, as a
// stand-in broker for machines without Java: `make demo EMBEDDED=1` uses it.
// It persists its state under --data-dir, so a restart keeps the topics,
// records, committed offsets and transactions.
//
// It is not a replacement for Apache Kafka in the integration suite; it is
// the embedded default for demos and the fault-injection tool for tests.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/auditstream/auditstream/service/buildinfo"
)

func main() {
	if buildinfo.Asked("embedded-kafka", os.Args[1:], os.Stdout) {
		return
	}
	port := flag.Int("port", 19092, "port to listen on, on 127.0.0.1 (0: any free port)")
	dataDir := flag.String("data-dir", ".stack/kfake", "directory that persists the cluster's state")
	addrFile := flag.String("addr-file", "", "write the listen address to this file once ready")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: embedded-kafka [flags]\n\nRuns franz-go's kfake as a local single-broker Kafka on 127.0.0.1.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*port, *dataDir, *addrFile, log); err != nil {
		log.Error("embedded kafka", "err", err)
		os.Exit(1)
	}
}

func run(port int, dataDir, addrFile string, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := kfake.NewCluster(
		kfake.Ports(port),
		kfake.DataDir(dataDir),
		kfake.ClusterID("auditstream-embedded"),
	)
	if err != nil {
		return fmt.Errorf("start kfake: %w", err)
	}
	// Close persists the final state; it must run before the process exits.
	defer c.Close()
	addrs := c.ListenAddrs()
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(strings.Join(addrs, ",")+"\n"), 0o644); err != nil {
			return fmt.Errorf("write addr file: %w", err)
		}
	}
	log.Info("embedded kafka ready", "addrs", addrs, "data_dir", dataDir)
	<-ctx.Done()
	log.Info("embedded kafka stopping")
	return nil
}
