package config

import "go.yaml.in/yaml/v3"

// Pipeline is the whole configuration file.
type Pipeline struct {
	Kafka      Kafka       `yaml:"kafka"`
	Topics     Topics      `yaml:"topics"`
	Router     Router      `yaml:"router"`
	Connectors []Connector `yaml:"connectors"`
	Admin      Admin       `yaml:"admin"`

	// Path is the file the pipeline was loaded from, for messages.
	Path string `yaml:"-"`

	// root is the file's YAML, for the file:line of problems found after
	// loading (CheckSecrets).
	root *yaml.Node
	// secrets are the file's secret references, for CheckSecrets.
	secrets []secretRef
}

// Kafka is how every service reaches the cluster.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	ClientID string   `yaml:"client_id"`
	TLS      *TLS     `yaml:"tls"`
	SASL     *SASL    `yaml:"sasl"`
}

// TLS enables TLS to the brokers. Files are PEM.
type TLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SASL authenticates to the brokers.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (Username and
	// Password), OAUTHBEARER (OAuth) or AWS_MSK_IAM (AWS).
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is read again for every new connection, so a rotated
	// password file takes effect without a restart.
	Password Secret    `yaml:"password"`
	OAuth    *OAuth    `yaml:"oauth"`
	AWS      *KafkaAWS `yaml:"aws"`
}

// Topics names the pipeline's topics and how they are created.
type Topics struct {
	Events Topic `yaml:"events"`
	DLQ    Topic `yaml:"dlq"`
	// ConnectorPrefix is prepended to a connector id to name its topic.
	ConnectorPrefix string `yaml:"connector_prefix"`
	// Connector is the partitions and retention of every connector topic.
	Connector Topic `yaml:"connector"`
	// Heads is the compacted topic where the S3 sinks record each
	// partition's chain head, outside the bucket (cleanup.policy=compact;
	// retention does not apply).
	Heads Topic `yaml:"heads"`
	// State is the router's compacted state topic: where each connector's
	// live routing began, per partition of the events topic, and backfill
	// progress. Its retention is unused (compaction keeps the last value
	// of each key).
	State Topic `yaml:"state"`
}

// Topic is one topic's name and creation settings. Existing topics are
// never altered: partitions, retention, replication_factor and
// min_insync_replicas apply when the topic is created. For a topic that
// exists, the router, `router setup` and the producer CLI read the actual
// replication factor and min.insync.replicas from the brokers, warn where
// they differ from the file or are weaker than 3 and 2, and refuse a
// min.insync.replicas above the replication factor (see durability.go).
type Topic struct {
	Name       string   `yaml:"name"`
	Partitions int32    `yaml:"partitions"`
	Retention  Duration `yaml:"retention"`
	// ReplicationFactor is how many brokers hold each partition. Unset,
	// the brokers' default.replication.factor applies (Kafka's own
	// default is 1). Production: 3, so that a broker can fail, or be
	// restarted, without losing or refusing an acknowledged event.
	ReplicationFactor int16 `yaml:"replication_factor"`
	// MinInsyncReplicas is the topic's min.insync.replicas: how many
	// replicas must hold an event before an acks=all write (every
	// Auditstream producer's) is acknowledged. Unset, the brokers'
	// min.insync.replicas applies (Kafka's default is 1). Production: 2,
	// so that no acknowledged event rests on one broker. It may not exceed
	// ReplicationFactor: no write could ever be acknowledged.
	MinInsyncReplicas int `yaml:"min_insync_replicas"`
}

// Router holds the router's settings.
type Router struct {
	Group string `yaml:"group"`
	// CommitInterval is how long a transaction stays open. Longer intervals
	// amortize the transaction's fixed cost (AddPartitions, EndTxn, the
	// offset commit) over more records; shorter ones lower end-to-end
	// latency, because read_committed consumers see nothing until commit.
	CommitInterval Duration `yaml:"commit_interval"`
	// MaxEventBytes caps one record's value; larger records go to the DLQ.
	MaxEventBytes ByteSize `yaml:"max_event_bytes"`
	// Listen is the address of /metrics, /healthz and /readyz. Unset, it
	// is DefaultRouterListen, or a free port of 127.0.0.1 when that is
	// taken; port 0 picks a free one. auditctl finds the address the
	// router got in its consumer group (see the admin package).
	Listen string `yaml:"listen"`
}

// ConnectorType is where a connector delivers.
type ConnectorType string

// The connector types, each the name of its destination's block. The
// sinks' packages own the blocks (see Destination).
const (
	TypeS3      ConnectorType = "s3"
	TypeDatadog ConnectorType = "datadog"
)

// Connector routes a filtered slice of the audit trail to one destination.
type Connector struct {
	ID     string        `yaml:"id"`
	Type   ConnectorType `yaml:"type"`
	Filter Filter        `yaml:"filter"`
	Redact Redaction     `yaml:"redact"`
	Batch  Batch         `yaml:"batch"`
	// Blocks are the connector's keys this package does not know: its
	// destination's block, named by its type (s3:, datadog:), which the
	// destination decodes (see Destination).
	Blocks map[string]yaml.Node `yaml:",inline"`
	// Settings is the destination's block as its Destination decoded it
	// (such as *s3sink.Config); nil when the file was loaded without it.
	Settings any `yaml:"-"`
	// Listen is the address of the sink's /metrics, /healthz and /readyz.
	// Unset, it is DefaultSinkListen, or a free port of 127.0.0.1 when
	// that is taken (another sink on the host); port 0 picks a free one.
	// auditctl finds every replica's address in the connector's consumer
	// group (see the admin package).
	Listen string `yaml:"listen"`
}

// Filter selects the events a connector receives. See Match in the router's
// filter package for the exact semantics; in short: an event passes when its
// action passes the action lists and its tenants pass the tenant lists, an
// exclude always wins over an include, and patterns are case-sensitive globs.
type Filter struct {
	Tenants Patterns `yaml:"tenants"`
	Actions Patterns `yaml:"actions"`
	// Tenantless decides the fate of events that carry no tenant
	// (project-level events). Unset means: routed when Tenants.Include is
	// empty, not routed when the connector is filtered to some tenants.
	Tenantless *bool `yaml:"tenantless"`
}

// Patterns is an include and an exclude list of glob patterns (path.Match
// syntax: *, ?, [a-z], \ escapes). An empty Include means "everything".
type Patterns struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// Redaction is what a connector removes from each event before delivery.
type Redaction struct {
	// Drop removes fields. Mask replaces them with "***". Hash replaces them
	// with the hex sha256 of Salt+value, so equal values still correlate.
	// Field names are the JSON names (remoteAddress, loginIds, data.email).
	Drop []string `yaml:"drop"`
	Mask []string `yaml:"mask"`
	Hash []string `yaml:"hash"`
	Salt Secret   `yaml:"salt"`
}

// Batch bounds one delivery. A batch is flushed when it reaches MaxEvents or
// MaxBytes, or when its oldest record is MaxAge old.
type Batch struct {
	MaxEvents int      `yaml:"max_events"`
	MaxBytes  ByteSize `yaml:"max_bytes"`
	MaxAge    Duration `yaml:"max_age"`
	// BufferBytes bounds what a sink holds in memory at once, over all its
	// partitions and batches in flight, in record bytes (default 40 MiB;
	// records are held as their values, and decoded only while their batch
	// is written). When it is reached, partitions that hold their share of
	// it write what they have, even short of a full batch, and fetching
	// waits.
	BufferBytes ByteSize `yaml:"buffer_bytes"`
}

// ConnectorTopic is the topic a connector's events are routed to.
func (p *Pipeline) ConnectorTopic(id string) string { return p.Topics.ConnectorPrefix + id }

// ConnectorGroup is the consumer group of a connector's sinks.
func (p *Pipeline) ConnectorGroup(id string) string { return "auditstream-sink-" + id }

// Connector returns the connector with the id.
func (p *Pipeline) Connector(id string) (*Connector, bool) {
	for i := range p.Connectors {
		if p.Connectors[i].ID == id {
			return &p.Connectors[i], true
		}
	}
	return nil, false
}
