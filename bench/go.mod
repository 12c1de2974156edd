module github.com/auditstream/auditstream/bench

go 1.26.0

require (
	github.com/auditstream/auditstream/producer v0.0.0
	github.com/auditstream/auditstream/proto v0.0.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.19.0
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.1 // indirect
	github.com/twmb/franz-go/plugin/kslog v1.0.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace (
	github.com/auditstream/auditstream/producer => ../producer
	github.com/auditstream/auditstream/proto => ../proto
	github.com/auditstream/auditstream/stack => ../stack
)
