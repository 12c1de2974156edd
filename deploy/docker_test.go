package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestDockerignore checks that the build context leaves out what must never
// enter an image, and keeps what the Dockerfiles build.
func TestDockerignore(t *testing.T) {
	root := repoRoot(t)
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		excluded bool
	}{
		{".stack/minio/root_password", true}, // the local stack's MinIO root keys
		{".stack/env", true},
		{"bin/router", true},
		{".git/config", true},
		{"deploy/secrets/s3_secret_key", true},
		{"router/router.test", true},
		{"go.work", false},
		{"router/go.mod", false},
		{"router/cmd/router/main.go", false},
		{"config/load.go", false},
		{"proto/go.mod", false},
		{"deploy/go.mod", false},
		{"deploy/cmd/healthcheck/main.go", false},
	} {
		got, err := pm.MatchesOrParentMatches(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.excluded {
			t.Errorf("%s: excluded %v, want %v", tc.path, got, tc.excluded)
		}
	}
}

// TestDockerfile checks the image's build: the Makefile's build tags, a
// user that is not root, and a version.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	df, mk := read("Dockerfile"), read("Makefile")

	tags := regexp.MustCompile(`(?m)^export GO_TAGS := (\S+)$`).FindStringSubmatch(mk)
	if tags == nil {
		t.Fatalf("Makefile: no `export GO_TAGS := ...` line")
	}
	if want := "GOFLAGS=-tags=" + tags[1]; !strings.Contains(df, want) {
		t.Errorf("Dockerfile does not build with the Makefile's tags: want %s", want)
	}

	// The last stage is the image.
	stages := regexp.MustCompile(`(?m)^FROM `).Split(df, -1)
	last := stages[len(stages)-1]
	user := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(last, -1)
	if user == nil {
		t.Fatalf("Dockerfile: the image has no USER, so it runs as root")
	}
	uid, _, _ := strings.Cut(user[len(user)-1][1], ":")
	if uid == "0" || uid == "root" || !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) {
		t.Errorf("Dockerfile: USER %s: want a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers)", uid)
	}
	if !strings.Contains(last, "ARG VERSION") || !strings.Contains(last, `org.opencontainers.image.version="${VERSION}"`) {
		t.Errorf("Dockerfile: the image carries no version (ARG VERSION and the org.opencontainers.image.version label)")
	}
}

// TestImagesCarryTheirHealthcheck checks that the images whose compose
// healthchecks run /usr/local/bin/healthcheck install it, and that the
// MinIO image builds the version the local stack pins.
func TestImagesCarryTheirHealthcheck(t *testing.T) {
	root := repoRoot(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	p := loadCompose(t, filepath.Join(root, "docker-compose.yml"))
	for _, s := range p.Services {
		if s.HealthCheck == nil || !slices.Contains(s.HealthCheck.Test, "/usr/local/bin/healthcheck") {
			continue
		}
		if s.Build == nil {
			t.Errorf("%s: runs /usr/local/bin/healthcheck from an image the project does not build", s.Name)
			continue
		}
		df := s.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		rel, _ := filepath.Rel(root, filepath.Join(s.Build.Context, df))
		if !strings.Contains(read(rel), "./cmd/healthcheck") {
			t.Errorf("%s: %s does not install cmd/healthcheck, which its healthcheck runs", s.Name, rel)
		}
	}
	pin := regexp.MustCompile(`MINIO_VERSION=(v\S+)`)
	stack, image := pin.FindStringSubmatch(read("stack/minio.sh")), pin.FindStringSubmatch(read("deploy/minio/Dockerfile"))
	if stack == nil || image == nil || stack[1] != image[1] {
		t.Errorf("MinIO: the image builds %v, the local stack pins %v; want the same", image, stack)
	}
}
