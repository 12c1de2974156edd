package ddsink

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/DataDog/datadog-api-client-go/v2/api/datadog"
)

// The indexes of the v2 SubmitLog server list in datadog-api-client-go:
// 0 is "https://{subdomain}.{site}" with site an enum of Datadog's sites,
// 1 is "{protocol}://{name}" with both variables free.
const (
	serverSite = 0
	serverURL  = 1
)

// endpoint is where the logs go, as the client's context values.
type endpoint struct {
	index     int
	variables map[string]string
	display   string // for logs and errors
}

// newEndpoint chooses the endpoint of a checked block: its URL when set,
// else its site.
func newEndpoint(d *Config) (endpoint, error) {
	if d.URL != "" {
		return urlEndpoint(d.URL)
	}
	site := d.Site
	return endpoint{
		index:     serverSite,
		variables: map[string]string{"site": site},
		display:   "https://http-intake.logs." + site,
	}, nil
}

// urlEndpoint points the client at a base URL. The client builds the
// request URL by substituting name into "{protocol}://{name}" and appending
// /api/v2/logs, so a path prefix rides along in name.
func urlEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// The parser's error quotes the URL, which may hold a password.
		return endpoint{}, errors.New("datadog url does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return endpoint{}, fmt.Errorf("datadog url %q: want an http or https url", u.Redacted())
	case u.Host == "":
		return endpoint{}, fmt.Errorf("datadog url %q: no host", u.Redacted())
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		// Credentials in a URL would end up in error messages.
		return endpoint{}, fmt.Errorf("datadog url %q: want scheme, host, port and path only", u.Redacted())
	}
	name := u.Host + strings.TrimRight(u.EscapedPath(), "/")
	return endpoint{
		index:     serverURL,
		variables: map[string]string{"protocol": u.Scheme, "name": name},
		display:   u.Scheme + "://" + name,
	}, nil
}

// context returns ctx carrying the endpoint and the API key for the client.
func (e endpoint) context(ctx context.Context, apiKey string) context.Context {
	ctx = context.WithValue(ctx, datadog.ContextServerIndex, e.index)
	ctx = context.WithValue(ctx, datadog.ContextServerVariables, e.variables)
	return context.WithValue(ctx, datadog.ContextAPIKeys, map[string]datadog.APIKey{
		"apiKeyAuth": {Key: apiKey},
	})
}
