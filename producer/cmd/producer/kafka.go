package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/auditstream/auditstream/config"
	"github.com/auditstream/auditstream/producer"
	"github.com/auditstream/auditstream/proto/record"
)

// kafkaFlags are the connection flags every command shares.
type kafkaFlags struct {
	brokers        string
	config         string
	topic          string
	encoding       string
	connectTimeout time.Duration
	// kafka is the pipeline file's connection settings (--config), to
	// explain a connection they make fail.
	kafka config.Kafka
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "brokers", "", "comma-separated Kafka bootstrap brokers (default $AUDITSTREAM_BROKERS, else the running local stack's, from .stack/env in this directory or a parent, else "+defaultBrokers+")")
	fs.StringVar(&k.config, "config", "", "pipeline file: take brokers, TLS, SASL and the events topic from it")
	fs.StringVar(&k.topic, "topic", "", "topic to publish to (default audit.events, or the pipeline's events topic)")
	fs.StringVar(&k.encoding, "encoding", "protobuf", "record value encoding: protobuf or json")
	fs.DurationVar(&k.connectTimeout, "connect-timeout", 5*time.Second, "give up (exit 4) when no broker answers within this long")
}

// options turns the flags into producer options, and says where the
// brokers came from.
func (k *kafkaFlags) options() (producer.Options, brokers, error) {
	o := producer.Options{Topic: k.topic, ClientID: "auditstream-producer-cli"}
	b := brokers{addrs: k.brokers, from: "from --brokers"}
	switch k.encoding {
	case "protobuf":
		o.Encoding = record.Protobuf
	case "json":
		o.Encoding = record.JSON
	default:
		return o, b, usageError{err: fmt.Errorf("--encoding %q: want protobuf or json", k.encoding)}
	}
	switch {
	case k.config != "":
		// The connection's secrets only: a producer holds no
		// destination's.
		p, err := config.Load(k.config)
		if err == nil {
			err = p.CheckSecrets(config.SecretScope{Kafka: true})
		}
		if err != nil {
			return o, b, usageError{err: err}
		}
		b = brokers{addrs: strings.Join(p.Kafka.Brokers, ","), from: "from --config " + k.config}
		k.kafka = p.Kafka
		if o.Topic == "" {
			o.Topic = p.Topics.Events.Name
		}
		o.MaxEventBytes = int(p.Router.MaxEventBytes)
		if o.TLS, err = p.Kafka.TLSConfig(); err != nil {
			return o, b, usageError{err: err}
		}
		if o.SASL, err = p.Kafka.SASLMechanism(); err != nil {
			return o, b, usageError{err: err}
		}
	case k.brokers == "":
		wd, err := os.Getwd()
		if err == nil {
			b, err = findBrokers(os.Getenv, wd)
		}
		if err != nil {
			return o, b, fmt.Errorf("find the brokers: %w", err)
		}
	}
	o.Brokers = strings.Split(b.addrs, ",")
	k.kafka.Brokers = o.Brokers
	return o, b, nil
}

// connect makes a producer from the flags and checks that a broker
// answers within --connect-timeout. Without the check an unreachable Kafka
// shows only as "published 0 events" until the first event's delivery
// timeout, two minutes later.
func (k *kafkaFlags) connect(ctx context.Context, stderr io.Writer) (*producer.Producer, producer.Options, error) {
	o, b, err := k.options()
	if err != nil {
		return nil, o, err
	}
	if b.stack {
		fmt.Fprintf(stderr, "producer: AUDITSTREAM_BROKERS is unset: using the local stack's Kafka at %s (%s)\n", b.addrs, b.from)
	}
	p, err := producer.New(o)
	if err != nil {
		return nil, o, usageError{err: err}
	}
	pctx, cancel := context.WithTimeout(ctx, k.connectTimeout)
	defer cancel()
	if err := p.Client().Ping(pctx); err != nil {
		_ = p.Close(ctx)
		if ctx.Err() != nil {
			return nil, o, ctx.Err()
		}
		// A rejected password, an untrusted certificate or a listener of
		// another protocol is a configuration error (exit 2), with what
		// to fix; retrying would not help.
		if ae := k.kafka.Explain(err); ae != nil {
			return nil, o, usageError{err: ae}
		}
		return nil, o, unreachableError{brokers: b, err: err}
	}
	if topic := cmp.Or(o.Topic, producer.DefaultTopic); topicMissing(pctx, p.Client(), topic) {
		_ = p.Close(ctx)
		return nil, o, usageError{err: fmt.Errorf("topic %s does not exist on Kafka at %s (%s): "+
			"create it with 'router setup --config pipeline.yaml', or choose another with --topic", topic, b.addrs, b.from)}
	}
	if err := checkDurability(pctx, p, stderr); err != nil {
		_ = p.Close(ctx)
		return nil, o, usageError{err: err}
	}
	return p, o, nil
}

// checkDurability refuses a topic where no acks=all write can be
// acknowledged (min.insync.replicas above the replication factor): every
// event would fail, after its retries, with NOT_ENOUGH_REPLICAS. It warns,
// once each, where the topic is weaker than 3 replicas with 2 in sync. A
// principal without DescribeConfigs on the topic may still publish: the
// check is then skipped, and said to be.
func checkDurability(ctx context.Context, p *producer.Producer, stderr io.Writer) error {
	d, err := p.Durability(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "producer: warning: replication not checked: %v\n", err)
		return nil
	}
	warnings, err := d.Check()
	for _, w := range warnings {
		fmt.Fprintf(stderr, "producer: warning: %s\n", w)
	}
	return err
}

// topicMissing says whether Kafka answers that topic does not exist. Any
// other answer is left for the publishing to report: the check is only there
// so that a missing topic is one message instead of one per line (router
// setup creates the topics; the local stack does not auto-create them).
func topicMissing(ctx context.Context, cl *kgo.Client, topic string) bool {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	return err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code
}

// unreachableError is a Kafka that did not answer (exit 4).
type unreachableError struct {
	brokers brokers
	err     error
}

func (e unreachableError) Error() string {
	return fmt.Sprintf("Kafka is unreachable at %s (%s): %v\n"+
		"Name the brokers with --brokers host:port, the AUDITSTREAM_BROKERS variable, or --config pipeline.yaml;\n"+
		"the local stack (make up) writes its address to .stack/env.",
		e.brokers.addrs, e.brokers.from, e.err)
}

func (e unreachableError) Unwrap() error { return e.err }

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
