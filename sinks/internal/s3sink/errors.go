package s3sink

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/auditstream/auditstream/sinks/internal/sink"
)

// errorCode is the S3 error code of err ("PreconditionFailed",
// "AccessDenied"), or "". Responses to HEAD have no body, so their code is
// the HTTP status text ("NotFound", "Forbidden").
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the response that failed, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// isPreconditionFailed reports a conditional write refused because the key
// exists (If-None-Match: *).
func isPreconditionFailed(err error) bool {
	return errorCode(err) == "PreconditionFailed" || httpStatus(err) == 412
}

// isNotFound reports a missing key or bucket.
func isNotFound(err error) bool {
	var (
		nk *types.NoSuchKey
		nf *types.NotFound
		nb *types.NoSuchBucket
	)
	if errors.As(err, &nk) || errors.As(err, &nf) || errors.As(err, &nb) {
		return true
	}
	switch errorCode(err) {
	case "NoSuchKey", "NotFound", "NoSuchBucket":
		return true
	}
	return httpStatus(err) == 404
}

// isNoSuchBucket reports a missing bucket.
func isNoSuchBucket(err error) bool {
	var nb *types.NoSuchBucket
	return errors.As(err, &nb) || errorCode(err) == "NoSuchBucket"
}

// isDenied reports an error of credentials or permissions, including those
// of the STS call behind assume_role credentials.
func isDenied(err error) bool {
	switch errorCode(err) {
	case "AccessDenied", "AccessDeniedException", "Forbidden", "InvalidAccessKeyId",
		"SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId",
		"AllAccessDisabled", "AccountProblem":
		return true
	}
	return httpStatus(err) == 403
}

// classify marks the errors that only an operator can fix, so that the
// runtime retries them slowly and reports the sink not ready. Everything
// else (5xx, throttling, network) is returned as it is: transient.
func (w *Writer) classify(err error) error {
	switch {
	case isDenied(err):
		return &sink.UnauthorizedError{Err: err}
	case isNoSuchBucket(err):
		return &sink.UnauthorizedError{Err: fmt.Errorf("bucket %s does not exist: %w", w.bucket, err)}
	}
	return err
}

// brief is the S3 error code and message of err, without the operation
// and request-id decoration, for messages meant for an operator.
func brief(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if msg := ae.ErrorMessage(); msg != "" && msg != ae.ErrorCode() {
			return ae.ErrorCode() + ": " + msg
		}
		return ae.ErrorCode()
	}
	return err.Error()
}
