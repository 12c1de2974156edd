package release_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/auditstream/auditstream/release"
)

// An application outside the repository, as the README's "From Go" shows it.
const appMain = `package main

import (
	"context"
	"log"

	"github.com/auditstream/auditstream/producer"
	auditv1 "github.com/auditstream/auditstream/proto/audit/v1"
)

func main() {
	ctx := context.Background()
	p, err := producer.New(producer.Options{Brokers: []string{"127.0.0.1:9092"}})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(ctx)
	if err := p.Publish(ctx, &auditv1.Event{Id: "example"}); err != nil {
		log.Fatal(err)
	}
}
`

// TestApplicationBuildsWithTheSDK publishes proto and the producer SDK, from
// the working tree at the versions the go.mod files require, into a
// file-based module proxy, then go gets the SDK into a module outside the
// repository and builds it, with no workspace, no replace, and an empty
// module cache: what an application does once the tags are pushed.
func TestApplicationBuildsWithTheSDK(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mods, err := release.Published(root)
	if err != nil {
		t.Fatalf("the published modules break a rule:\n%v", err)
	}
	proxy := t.TempDir()
	if err := release.WriteProxy(proxy, root, mods, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}

	gocmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	// Modules that are not ours come from this machine's module cache
	// (its download directory is itself a file proxy), else from the
	// usual proxy: the test needs no network once the workspace built.
	goEnv := func(name string) string {
		out, err := exec.Command(gocmd, "env", name).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	fallback := "file://" + filepath.Join(goEnv("GOMODCACHE"), "cache", "download")
	if p := goEnv("GOPROXY"); p != "" && p != "off" {
		fallback += "," + p
	}

	app := t.TempDir()
	modcache := t.TempDir()
	env := append(withoutGoSettings(os.Environ()),
		"GOWORK=off",
		"GOMODCACHE="+modcache,
		"GOPROXY=file://"+filepath.ToSlash(proxy)+","+fallback,
		// -trimpath: compiled packages then do not depend on where the
		// fresh module cache is, so the build cache serves later runs.
		"GOFLAGS=-mod=mod -trimpath",
		// Our modules are in no checksum database, and the others were
		// checked when they entered the local cache.
		"GOSUMDB=off",
		"GONOSUMDB="+release.Repo,
		// Nothing may bypass the proxy: a private path would be fetched
		// straight from git.
		"GOPRIVATE=", "GONOPROXY=", "GOINSECURE=",
		"GOTOOLCHAIN=local",
	)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gocmd, args...)
		cmd.Dir, cmd.Env = app, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	// The module cache is read-only; go clean removes it before TempDir's
	// cleanup tries to (cleanups run last first).
	t.Cleanup(func() {
		cmd := exec.Command(gocmd, "clean", "-modcache")
		cmd.Dir, cmd.Env = app, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("go clean -modcache: %v\n%s", err, out)
		}
	})

	if err := os.WriteFile(filepath.Join(app, "go.mod"), []byte("module example.com/auditapp\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(app, "main.go"), []byte(appMain), 0o644); err != nil {
		t.Fatal(err)
	}
	var sdk release.Module
	for _, m := range mods {
		if m.Dir == "producer" {
			sdk = m
		}
	}
	run("get", sdk.Path+"@"+sdk.Version)
	run("build", "-o", filepath.Join(t.TempDir(), "auditapp"), ".")

	// The application's build list holds our published modules, at their
	// versions, and nothing else of ours.
	want := map[string]string{}
	for _, m := range mods {
		want[m.Path] = m.Version
	}
	for line := range strings.Lines(run("list", "-m", "all")) {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[0], release.Repo+"/") {
			continue
		}
		if w, ok := want[f[0]]; !ok || f[1] != w {
			t.Errorf("the application requires %s %s; want only %v", f[0], f[1], want)
		}
	}

	// Each published module is tidy outside the repository: go mod tidy,
	// which reads every file under every build tag, tests included, leaves
	// its go.mod as it is. A test that imported stack/kafkatest fails here
	// (nothing publishes stack), and so does a requirement the module does
	// not use, which every application would carry.
	for _, m := range mods {
		src := filepath.Join(modcache, filepath.FromSlash(m.Path)+"@"+m.Version)
		dst := filepath.Join(t.TempDir(), m.Dir)
		if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
			t.Fatalf("copy %s: %v", src, err)
		}
		// The copy keeps the cache's read-only modes.
		if err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if d.IsDir() {
				mode = 0o755
			}
			return os.Chmod(p, mode)
		}); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(gocmd, "mod", "tidy")
		cmd.Dir, cmd.Env = dst, env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: go mod tidy outside the repository: %v\n%s", m.Dir, err, out)
			continue
		}
		got, err := os.ReadFile(filepath.Join(dst, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m.GoMod) {
			t.Errorf("%s/go.mod is not tidy: go mod tidy makes it\n%s\nwant it unchanged:\n%s", m.Dir, got, m.GoMod)
		}
	}
}

// withoutGoSettings drops from env every variable the test sets itself, so
// that a developer's GOFLAGS or GOWORK cannot reach the application build.
func withoutGoSettings(env []string) []string {
	set := []string{"GOWORK", "GOMODCACHE", "GOPROXY", "GOFLAGS", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOTOOLCHAIN"}
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(set, name)
	})
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		dir   string
		gomod string
		want  []string // substrings of the error, one per problem; none when clean
	}{
		{
			name: "clean SDK",
			dir:  "producer",
			gomod: `module github.com/auditstream/auditstream/producer
go 1.26.0
require (
	github.com/auditstream/auditstream/proto v0.1.0
	github.com/twmb/franz-go v1.22.3
)`,
		},
		{
			name: "replace",
			dir:  "producer",
			gomod: `module github.com/auditstream/auditstream/producer
require github.com/auditstream/auditstream/proto v0.1.0
replace github.com/auditstream/auditstream/proto => ../proto`,
			want: []string{"producer/go.mod:3: replace github.com/auditstream/auditstream/proto"},
		},
		{
			name: "requires config",
			dir:  "producer",
			gomod: `module github.com/auditstream/auditstream/producer
require github.com/auditstream/auditstream/config v0.0.0`,
			want: []string{"producer/go.mod:2: requires github.com/auditstream/auditstream/config, which is never published"},
		},
		{
			name: "requires stack for a test",
			dir:  "producer",
			gomod: `module github.com/auditstream/auditstream/producer
require (
	github.com/auditstream/auditstream/proto v0.1.0
	github.com/auditstream/auditstream/stack v0.0.0
)`,
			want: []string{"producer/go.mod:4: requires github.com/auditstream/auditstream/stack"},
		},
		{
			name:  "path not its directory",
			dir:   "proto",
			gomod: `module github.com/auditstream/proto`,
			want:  []string{`proto/go.mod: module "github.com/auditstream/proto", want "github.com/auditstream/auditstream/proto"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := modfile.Parse(tt.dir+"/go.mod", []byte(tt.gomod), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = release.Check(tt.dir, f)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got %q, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestPublishedVersions(t *testing.T) {
	const (
		proto    = "module github.com/auditstream/auditstream/proto\n"
		producer = "module github.com/auditstream/auditstream/producer\nrequire github.com/auditstream/auditstream/proto v0.1.0\n"
	)
	tests := []struct {
		name  string
		files map[string]string
		want  string // the versions, "proto producer", or a substring of the error
	}{
		{
			name: "one version each",
			files: map[string]string{
				"proto/go.mod":    proto,
				"producer/go.mod": producer,
				"router/go.mod":   "module github.com/auditstream/auditstream/router\nrequire (\n\tgithub.com/auditstream/auditstream/producer v0.2.0\n\tgithub.com/auditstream/auditstream/proto v0.1.0\n)\nreplace github.com/auditstream/auditstream/producer => ../producer\n",
			},
			want: "v0.1.0 v0.2.0",
		},
		{
			name: "two versions",
			files: map[string]string{
				"proto/go.mod":    proto,
				"producer/go.mod": producer,
				"router/go.mod":   "module github.com/auditstream/auditstream/router\nrequire (\n\tgithub.com/auditstream/auditstream/producer v0.1.0\n\tgithub.com/auditstream/auditstream/proto v0.0.9\n)\n",
			},
			want: "proto: required at different versions (v0.0.9 by router/go.mod; v0.1.0 by producer/go.mod)",
		},
		{
			name: "placeholder",
			files: map[string]string{
				"proto/go.mod":    proto,
				"producer/go.mod": "module github.com/auditstream/auditstream/producer\nrequire github.com/auditstream/auditstream/proto v0.0.0\n",
				"router/go.mod":   "module github.com/auditstream/auditstream/router\nrequire github.com/auditstream/auditstream/producer v0.1.0\n",
			},
			want: "proto: required at v0.0.0: v0.0.0 is a placeholder",
		},
		{
			name: "nothing requires the SDK",
			files: map[string]string{
				"proto/go.mod":    proto,
				"producer/go.mod": producer,
			},
			want: "producer: no go.mod requires it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tt.files {
				p := filepath.Join(root, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			mods, err := release.Published(root)
			var got string
			if err != nil {
				got = err.Error()
			} else {
				var vs []string
				for _, m := range mods {
					vs = append(vs, m.Version)
				}
				got = strings.Join(vs, " ")
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
