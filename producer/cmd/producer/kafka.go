package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer"
	"github.com/auditstream/auditstream/proto/record"
)

// kafkaFlags are the connection flags every command shares.
type kafkaFlags struct {
	brokers  string
	config   string
	topic    string
	encoding string
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	def := os.Getenv("AUDITSTREAM_BROKERS")
	if def == "" {
		def = "127.0.0.1:9092"
	}
	fs.StringVar(&k.brokers, "brokers", def, "comma-separated Kafka bootstrap brokers (default $AUDITSTREAM_BROKERS)")
	fs.StringVar(&k.config, "config", "", "pipeline file: take brokers, TLS, SASL and the events topic from it")
	fs.StringVar(&k.topic, "topic", "", "topic to publish to (default audit.events, or the pipeline's events topic)")
	fs.StringVar(&k.encoding, "encoding", "protobuf", "record value encoding: protobuf or json")
}

// options turns the flags into producer options.
func (k *kafkaFlags) options() (producer.Options, error) {
	o := producer.Options{Brokers: strings.Split(k.brokers, ","), Topic: k.topic, ClientID: "auditstream-producer-cli"}
	switch k.encoding {
	case "protobuf":
		o.Encoding = record.Protobuf
	case "json":
		o.Encoding = record.JSON
	default:
		return o, usageError{err: fmt.Errorf("--encoding %q: want protobuf or json", k.encoding)}
	}
	if k.config == "" {
		return o, nil
	}
	p, err := config.Load(k.config)
	if err != nil {
		return o, usageError{err: err}
	}
	o.Brokers = p.Kafka.Brokers
	if o.Topic == "" {
		o.Topic = p.Topics.Events.Name
	}
	o.MaxEventBytes = int(p.Router.MaxEventBytes)
	if o.TLS, err = p.Kafka.TLSConfig(); err != nil {
		return o, usageError{err: err}
	}
	if o.SASL, err = p.Kafka.SASLMechanism(); err != nil {
		return o, usageError{err: err}
	}
	return o, nil
}

// parse parses a command's flags; --help prints usage and is not an error
// of the user's.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return usageError{err: err, help: true}
		}
		return usageError{err: err}
	}
	return nil
}
