// Package release knows the modules Auditstream publishes (proto and the
// producer SDK): the version the repository requires each at, the rules that
// keep them consumable from outside the repository, and how to write them
// into a file-based Go module proxy, as pushing their tags would publish them.
package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

// Repo is the repository's import path. A module in directory d of the
// repository has the path Repo/d and is tagged d/vX.Y.Z (Go's convention
// for a module in a subdirectory).
const Repo = "github.com/auditstream/auditstream"

// PublishedDirs returns the directories of the modules an application may
// require. Every other module of the repository is never published.
func PublishedDirs() []string { return []string{"proto", "producer"} }

// Module is one published module of the tree.
type Module struct {
	Path    string // module path, Repo/Dir
	Dir     string // directory, relative to the repository root
	Version string // the version the repository's go.mod files require
	GoMod   []byte // its go.mod
}

// Tag is the git tag that publishes m.
func (m Module) Tag() string { return m.Dir + "/" + m.Version }

// Published reads every go.mod under root and returns the published modules
// at the version the others require them at. It fails, naming each problem,
// when a published module breaks a rule of Check, when two go.mod files
// require it at different versions, or when nothing requires it at all (so
// no version says what to tag).
func Published(root string) ([]Module, error) {
	files, err := goModFiles(root)
	if err != nil {
		return nil, err
	}
	var problems []error
	versions := map[string]map[string][]string{} // path -> version -> requiring go.mod files
	for rel, f := range files {
		for _, r := range f.Require {
			if versions[r.Mod.Path] == nil {
				versions[r.Mod.Path] = map[string][]string{}
			}
			versions[r.Mod.Path][r.Mod.Version] = append(versions[r.Mod.Path][r.Mod.Version], rel)
		}
	}
	var mods []Module
	for _, dir := range PublishedDirs() {
		rel := path.Join(dir, "go.mod")
		f, ok := files[rel]
		if !ok {
			problems = append(problems, fmt.Errorf("%s: missing", rel))
			continue
		}
		if err := Check(dir, f); err != nil {
			problems = append(problems, err)
		}
		p := Repo + "/" + dir
		vs := versions[p]
		switch len(vs) {
		case 0:
			problems = append(problems, fmt.Errorf("%s: no go.mod requires it, so no version says what to publish", p))
			continue
		case 1:
		default:
			var each []string
			for v, by := range vs {
				slices.Sort(by)
				each = append(each, fmt.Sprintf("%s by %s", v, strings.Join(by, ", ")))
			}
			slices.Sort(each)
			problems = append(problems, fmt.Errorf("%s: required at different versions (%s): a release moves them together", p, strings.Join(each, "; ")))
			continue
		}
		v := slices.Collect(maps.Keys(vs))[0]
		if err := checkVersion(v); err != nil {
			problems = append(problems, fmt.Errorf("%s: required at %s: %w", p, v, err))
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		mods = append(mods, Module{Path: p, Dir: dir, Version: v, GoMod: data})
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return mods, nil
}

// checkVersion refuses what a tag cannot be: a pseudo-version, a
// non-canonical version, and v0.0.0, the placeholder a replace once stood
// behind.
func checkVersion(v string) error {
	switch {
	case !semver.IsValid(v) || semver.Canonical(v) != v:
		return errors.New("not a canonical semantic version")
	case module.IsPseudoVersion(v):
		return errors.New("a pseudo-version: require a tagged version")
	case v == "v0.0.0":
		return errors.New("v0.0.0 is a placeholder, never a tag")
	case semver.Major(v) != "v0" && semver.Major(v) != "v1":
		return errors.New("major version 2 or more needs a /vN module path")
	}
	return nil
}

// Check applies the rules of a published module to its go.mod f, in
// directory dir: its path is Repo/dir, it has no replace directive (a
// dependency's replaces are ignored, so it would build here and not in an
// application), and it requires no module of the repository that is not
// published itself (config, stack and the services never are).
func Check(dir string, f *modfile.File) error {
	rel := path.Join(dir, "go.mod")
	var problems []error
	if want := Repo + "/" + dir; f.Module == nil || f.Module.Mod.Path != want {
		got := ""
		if f.Module != nil {
			got = f.Module.Mod.Path
		}
		problems = append(problems, fmt.Errorf("%s: module %q, want %q (the tag %s/vX.Y.Z only finds it there)", rel, got, want, dir))
	}
	for _, r := range f.Replace {
		problems = append(problems, fmt.Errorf("%s:%d: replace %s: a published module has no replace (an application ignores it)", rel, r.Syntax.Start.Line, r.Old.Path))
	}
	for _, r := range f.Require {
		p := r.Mod.Path
		if !strings.HasPrefix(p, Repo+"/") {
			continue
		}
		if d := strings.TrimPrefix(p, Repo+"/"); !slices.Contains(PublishedDirs(), d) {
			problems = append(problems, fmt.Errorf("%s:%d: requires %s, which is never published", rel, r.Syntax.Start.Line, p))
		}
	}
	return errors.Join(problems...)
}

// goModFiles parses every go.mod under root, by slash path relative to
// root, leaving out .git and the local stack's data.
func goModFiles(root string) (map[string]*modfile.File, error) {
	files := map[string]*modfile.File{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == ".git" || d.Name() == ".stack" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		f, err := modfile.Parse(rel, data, nil)
		if err != nil {
			return fmt.Errorf("parse %s: %w", rel, err)
		}
		files[rel] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the go.mod files under %s: %w", root, err)
	}
	return files, nil
}

// WriteProxy writes mods, from their directories under root, into dir as
// a file-based module proxy (GOPROXY=file://dir): for each module, the
// version list, the .info, the .mod and the .zip that a proxy serves for a
// tag. The zip is made from the working tree as it is, leaving out nested
// modules (producer/cmd/producer) as a tag's would; unlike a tag's, it
// takes untracked files too.
func WriteProxy(dir, root string, mods []Module, at time.Time) error {
	for _, m := range mods {
		esc, err := module.EscapePath(m.Path)
		if err != nil {
			return fmt.Errorf("escape %s: %w", m.Path, err)
		}
		ev, err := module.EscapeVersion(m.Version)
		if err != nil {
			return fmt.Errorf("escape %s: %w", m.Version, err)
		}
		vdir := filepath.Join(dir, filepath.FromSlash(esc), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		info, err := json.Marshal(struct {
			Version string
			Time    time.Time
		}{m.Version, at.UTC()})
		if err != nil {
			return err
		}
		for name, data := range map[string][]byte{
			"list":       []byte(m.Version + "\n"),
			ev + ".info": info,
			ev + ".mod":  m.GoMod,
		} {
			if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
				return err
			}
		}
		if err := writeZip(filepath.Join(vdir, ev+".zip"), filepath.Join(root, filepath.FromSlash(m.Dir)), m); err != nil {
			return err
		}
	}
	return nil
}

func writeZip(name, src string, m Module) (err error) {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if err := zip.CreateFromDir(f, module.Version{Path: m.Path, Version: m.Version}, src); err != nil {
		return fmt.Errorf("zip %s@%s: %w", m.Path, m.Version, err)
	}
	return nil
}
