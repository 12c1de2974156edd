package s3sink

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// sdkError is err as the SDK returns it: an operation error around an
// HTTP response error with the status.
func sdkError(status int, err error) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err},
		RequestID:     "req",
	}}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name                           string
		err                            error
		precondition, notFound, denied bool
		unauthorized                   bool
	}{
		{"412", sdkError(412, &smithy.GenericAPIError{Code: "PreconditionFailed"}), true, false, false, false},
		{"412 without body", sdkError(412, errors.New("no body")), true, false, false, false},
		{"no such key", sdkError(404, &types.NoSuchKey{}), false, true, false, false},
		{"HEAD 404", sdkError(404, &smithy.GenericAPIError{Code: "NotFound"}), false, true, false, false},
		{"no such bucket", sdkError(404, &types.NoSuchBucket{}), false, true, false, true},
		{"access denied", sdkError(403, &smithy.GenericAPIError{Code: "AccessDenied"}), false, false, true, true},
		{"bad key id", sdkError(403, &smithy.GenericAPIError{Code: "InvalidAccessKeyId"}), false, false, true, true},
		{"bad signature", sdkError(403, &smithy.GenericAPIError{Code: "SignatureDoesNotMatch"}), false, false, true, true},
		{"HEAD 403", sdkError(403, &smithy.GenericAPIError{Code: "Forbidden"}), false, false, true, true},
		{"throttled", sdkError(503, &smithy.GenericAPIError{Code: "SlowDown"}), false, false, false, false},
		{"conflict", sdkError(409, &smithy.GenericAPIError{Code: "ConditionalRequestConflict"}), false, false, false, false},
		{"network", fmt.Errorf("put: %w", errors.New("connection refused")), false, false, false, false},
	}
	w := &Writer{bucket: "b"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isPreconditionFailed(tt.err); got != tt.precondition {
				t.Errorf("isPreconditionFailed: got %v, want %v", got, tt.precondition)
			}
			if got := isNotFound(tt.err); got != tt.notFound {
				t.Errorf("isNotFound: got %v, want %v", got, tt.notFound)
			}
			if got := isDenied(tt.err); got != tt.denied {
				t.Errorf("isDenied: got %v, want %v", got, tt.denied)
			}
			if got := sink.IsUnauthorized(w.classify(tt.err)); got != tt.unauthorized {
				t.Errorf("classify: unauthorized %v, want %v", got, tt.unauthorized)
			}
		})
	}
}
