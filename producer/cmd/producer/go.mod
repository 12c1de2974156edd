// The producer CLI is a module of its own, never published: it reads the
// pipeline file (config) and its tests use the local stack (stack), and the
// SDK's module must require neither. Like the services, it builds outside
// the workspace through replace directives.
module github.com/auditstream/auditstream/producer/cmd/producer

go 1.26.0

require (
	github.com/auditstream/auditstream/config v0.0.0
	github.com/auditstream/auditstream/producer v0.1.0
	github.com/auditstream/auditstream/proto v0.1.0
	github.com/auditstream/auditstream/service v0.0.0
	github.com/auditstream/auditstream/stack v0.0.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.19.0
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
	golang.org/x/time v0.16.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0 // indirect
	github.com/aws/aws-sdk-go-v2/config v1.33.18 // indirect
	github.com/aws/aws-sdk-go-v2/credentials v1.21.0 // indirect
	github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.20.9 // indirect
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/v4a v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.25 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/presigned-url v1.14.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/signin v1.13.1 // indirect
	github.com/aws/aws-sdk-go-v2/service/sso v1.39.5 // indirect
	github.com/aws/aws-sdk-go-v2/service/ssooidc v1.44.5 // indirect
	github.com/aws/aws-sdk-go-v2/service/sts v1.52.0 // indirect
	github.com/aws/smithy-go v1.28.9 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/plugin/kslog v1.0.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)

replace (
	github.com/auditstream/auditstream/config => ../../../config
	github.com/auditstream/auditstream/producer => ../..
	github.com/auditstream/auditstream/proto => ../../../proto
	github.com/auditstream/auditstream/stack => ../../../stack
)

replace github.com/auditstream/auditstream/service => ../../../service
