package ddintake

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"strings"
)

// readBody reads r's body and decodes it per its Content-Encoding. It returns the
// decoded body and the size of the body as sent. A body that decodes to more than
// limit bytes is rejected with 413; one that does not decode, with 400.
func readBody(r *http.Request, limit int) ([]byte, int64, error) {
	// A compressed body cannot be much larger than what it decodes to: deflate's
	// stored blocks cost five bytes per 64 KiB. So a body over this cap is over the
	// limit whatever its encoding, and reading stops there.
	sentCap := int64(limit) + int64(limit)/64 + 64<<10
	sent, err := io.ReadAll(io.LimitReader(r.Body, sentCap+1))
	if err != nil {
		return nil, int64(len(sent)), reject(http.StatusBadRequest, "read body: %v", err)
	}
	if int64(len(sent)) > sentCap {
		return nil, int64(len(sent)), reject(http.StatusRequestEntityTooLarge,
			"payload is over the limit of %d bytes uncompressed", limit)
	}
	decoded, err := decode(r.Header.Get("Content-Encoding"), sent, limit)
	return decoded, int64(len(sent)), err
}

// decode decodes body per the Content-Encoding value encoding, reading at most
// limit+1 decoded bytes.
func decode(encoding string, body []byte, limit int) ([]byte, error) {
	var dec io.Reader
	switch enc := strings.ToLower(strings.TrimSpace(encoding)); enc {
	case "", "identity":
		dec = bytes.NewReader(body)
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, reject(http.StatusBadRequest, "decompress gzip body: %v", err)
		}
		dec = zr
	case "deflate":
		// HTTP's deflate is the zlib format, which is what datadog-api-client-go
		// sends; some clients send a raw deflate stream instead, so accept both.
		zr, err := zlib.NewReader(bytes.NewReader(body))
		switch {
		case errors.Is(err, zlib.ErrHeader):
			dec = flate.NewReader(bytes.NewReader(body))
		case err != nil:
			return nil, reject(http.StatusBadRequest, "decompress deflate body: %v", err)
		default:
			dec = zr
		}
	default:
		return nil, reject(http.StatusBadRequest, "unsupported Content-Encoding %q (want gzip, deflate or identity)", encoding)
	}
	decoded, err := io.ReadAll(io.LimitReader(dec, int64(limit)+1))
	if err != nil {
		return nil, reject(http.StatusBadRequest, "decompress %s body: %v", encoding, err)
	}
	if len(decoded) > limit {
		return nil, reject(http.StatusRequestEntityTooLarge, "payload is over the limit of %d bytes uncompressed", limit)
	}
	return decoded, nil
}
