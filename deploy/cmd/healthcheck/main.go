// Command healthcheck GETs a URL and exits 0 when the answer is 2xx, 1
// otherwise. It is the container healthcheck of images that have no shell
// or curl (distroless): Auditstream's own image, for /healthz, and the
// MinIO image of docker-compose.yml, for /minio/health/live.
//
// Usage:
//
//	healthcheck URL
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/auditstream/auditstream/service/buildinfo"
)

func main() {
	if buildinfo.Asked("healthcheck", os.Args[1:], os.Stdout) {
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck URL")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := check(ctx, http.DefaultClient, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

// check GETs url and fails unless the status is 2xx.
func check(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// The body says why a /readyz is not ready; a little of it helps
	// `docker inspect` explain an unhealthy container.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
