// ctb-image writes container images as docker-save tarballs (what `ctr images import` and `docker load`
// read) from a spec of host files, without a Docker engine or a registry. Layers are deterministic (entries
// sorted, owner root, fixed times), so the same inputs give the same image id, and an image whose inputs
// have not changed is not written again.
//
//	ctb-image build -spec pause.spec -out DIR/pause.tar   prints "<ref> <image id> <tarball>"
//	ctb-image check DIR/pause.tar                          validates every image in a tarball, prints each
//
// Spec (one directive a line, fields separated by tabs, # comments):
//
//	ref         contrail-k8s-testbed:dev
//	entrypoint  node  /app/bin/ctb        (each field one argument)
//	cmd         …
//	env         PATH=/usr/local/bin:/usr/bin:/bin
//	workdir     /app
//	layer                                   starts a layer (files before the first one go into a first layer)
//	file        SRC  DST  [MODE]            a host file (symlinks followed); MODE octal
//	tree        SRCDIR  DST                 a host directory, recursively; symlinks inside are kept as links
//	link        DST  TARGET                 a symbolic link
//	dir         DST                         an empty directory
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// Every entry's time: fixed, so layers depend on content only (the project's bin/ctb compares its bundle's
// time with its sources'; equal times keep the bundle current).
var epoch = time.Unix(0, 0).UTC()

type entry struct {
	path   string // inside the image, no leading slash
	kind   byte   // tar.TypeReg, TypeDir, TypeSymlink
	src    string // host file (regular)
	target string // symlink target
	mode   int64
}

type spec struct {
	ref        string
	entrypoint []string
	cmd        []string
	env        []string
	workdir    string
	layers     [][]entry
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "ctb-image: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ctb-image build -spec FILE -out FILE.tar | ctb-image check FILE.tar")
	}
	switch args[0] {
	case "build":
		var specFile, out string
		for i := 1; i+1 < len(args); i += 2 {
			switch args[i] {
			case "-spec":
				specFile = args[i+1]
			case "-out":
				out = args[i+1]
			default:
				return fmt.Errorf("build: unknown flag %q", args[i])
			}
		}
		if specFile == "" || out == "" {
			return errors.New("build: -spec FILE and -out FILE.tar are required")
		}
		return build(specFile, out)
	case "check":
		if len(args) != 2 {
			return errors.New("check: one tarball")
		}
		return check(args[1])
	}
	return fmt.Errorf("unknown command %q (build, check)", args[0])
}

func parseSpec(file string) (*spec, error) {
	text, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s := &spec{}
	for i, line := range strings.Split(string(text), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		f := strings.Split(line, "\t")
		where := fmt.Sprintf("%s:%d", file, i+1)
		need := func(n int) error {
			if len(f) < n {
				return fmt.Errorf("%s: %q needs %d tab-separated fields", where, f[0], n-1)
			}
			return nil
		}
		add := func(e entry) {
			if len(s.layers) == 0 {
				s.layers = append(s.layers, nil)
			}
			e.path = strings.TrimPrefix(path.Clean("/"+e.path), "/")
			s.layers[len(s.layers)-1] = append(s.layers[len(s.layers)-1], e)
		}
		switch f[0] {
		case "ref":
			if err := need(2); err != nil {
				return nil, err
			}
			s.ref = f[1]
		case "entrypoint":
			s.entrypoint = f[1:]
		case "cmd":
			s.cmd = f[1:]
		case "env":
			s.env = append(s.env, f[1:]...)
		case "workdir":
			if err := need(2); err != nil {
				return nil, err
			}
			s.workdir = f[1]
		case "layer":
			s.layers = append(s.layers, nil)
		case "file":
			if err := need(3); err != nil {
				return nil, err
			}
			st, err := os.Stat(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			if !st.Mode().IsRegular() {
				return nil, fmt.Errorf("%s: %s is not a regular file", where, f[1])
			}
			mode := int64(st.Mode().Perm())
			if len(f) > 3 {
				m, err := strconv.ParseInt(f[3], 8, 32)
				if err != nil {
					return nil, fmt.Errorf("%s: bad mode %q", where, f[3])
				}
				mode = m
			}
			add(entry{path: f[2], kind: tar.TypeReg, src: f[1], mode: mode})
		case "tree":
			if err := need(3); err != nil {
				return nil, err
			}
			root, err := filepath.EvalSymlinks(f[1])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				dst := path.Join(f[2], filepath.ToSlash(rel))
				info, err := d.Info()
				if err != nil {
					return err
				}
				switch {
				case d.Type()&fs.ModeSymlink != 0:
					t, err := os.Readlink(p)
					if err != nil {
						return err
					}
					add(entry{path: dst, kind: tar.TypeSymlink, target: t, mode: 0o777})
				case d.IsDir():
					add(entry{path: dst, kind: tar.TypeDir, mode: int64(info.Mode().Perm())})
				case info.Mode().IsRegular():
					add(entry{path: dst, kind: tar.TypeReg, src: p, mode: int64(info.Mode().Perm())})
				} // sockets, fifos and devices have no place in an image
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
		case "link":
			if err := need(3); err != nil {
				return nil, err
			}
			add(entry{path: f[1], kind: tar.TypeSymlink, target: f[2], mode: 0o777})
		case "dir":
			if err := need(2); err != nil {
				return nil, err
			}
			add(entry{path: f[1], kind: tar.TypeDir, mode: 0o755})
		default:
			return nil, fmt.Errorf("%s: unknown directive %q", where, f[0])
		}
	}
	if s.ref == "" {
		return nil, fmt.Errorf("%s: no ref line", file)
	}
	if len(s.layers) == 0 {
		return nil, fmt.Errorf("%s: no files", file)
	}
	return s, nil
}

// writeLayer writes one layer's uncompressed tar to w: parents first, entries sorted, a path given twice
// keeps its last definition.
func writeLayer(entries []entry, w io.Writer) error {
	byPath := map[string]entry{}
	for _, e := range entries {
		if e.path == "" {
			continue
		}
		byPath[e.path] = e
		for d := path.Dir(e.path); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = entry{path: d, kind: tar.TypeDir, mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		e := byPath[p]
		h := &tar.Header{Name: p, Typeflag: e.kind, Mode: e.mode, ModTime: epoch, Format: tar.FormatPAX}
		switch e.kind {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = e.target
		case tar.TypeReg:
			st, err := os.Stat(e.src)
			if err != nil {
				return err
			}
			h.Size = st.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if e.kind == tar.TypeReg {
			f, err := os.Open(e.src)
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
			if n != h.Size {
				return fmt.Errorf("%s changed while it was read", e.src)
			}
		}
	}
	return tw.Close()
}

type stamp struct {
	Ref     string   `json:"ref"`
	ID      string   `json:"id"`
	Key     string   `json:"key"`
	DiffIDs []string `json:"diffIds"`
}

func build(specFile, out string) error {
	s, err := parseSpec(specFile)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(s.ref)
	if err != nil {
		return fmt.Errorf("%s: ref %q: %v", specFile, s.ref, err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	// Each layer to a temporary file first: its digest is part of the cache key.
	key := sha256.New()
	fmt.Fprintf(key, "%q %q %q %q %q %s\n", s.ref, s.entrypoint, s.cmd, s.env, s.workdir, runtime.GOARCH)
	var layerFiles, diffIDs []string
	defer func() {
		for _, f := range layerFiles {
			os.Remove(f)
		}
	}()
	for _, entries := range s.layers {
		tmp, err := os.CreateTemp(filepath.Dir(out), ".layer-*.tar")
		if err != nil {
			return err
		}
		layerFiles = append(layerFiles, tmp.Name())
		h := sha256.New()
		err = writeLayer(entries, io.MultiWriter(tmp, h))
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		d := "sha256:" + hex.EncodeToString(h.Sum(nil))
		diffIDs = append(diffIDs, d)
		fmt.Fprintln(key, d)
	}
	k := hex.EncodeToString(key.Sum(nil))
	var old stamp
	if b, err := os.ReadFile(out + ".json"); err == nil && json.Unmarshal(b, &old) == nil && old.Key == k {
		if _, err := os.Stat(out); err == nil {
			fmt.Printf("%s %s %s\n", s.ref, old.ID, out)
			return nil
		}
	}

	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	for _, lf := range layerFiles {
		l, err := tarball.LayerFromFile(lf, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithMediaType(types.DockerLayer))
		if err != nil {
			return err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "ctb-image " + filepath.Base(specFile), Created: v1.Time{Time: epoch}}}); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.entrypoint
	cf.Config.Cmd = s.cmd
	cf.Config.Env = s.env
	cf.Config.WorkingDir = s.workdir
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(stamp{Ref: s.ref, ID: id.String(), Key: k, DiffIDs: diffIDs}, "", "  ")
	if err := os.WriteFile(out+".json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s %s %s\n", s.ref, id, out)
	return nil
}

// check: every image in a docker-save tarball passes go-containerregistry's validation (manifest, config and
// layers agree: digests, sizes, diff ids).
func check(file string) error {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	if len(m) == 0 {
		return fmt.Errorf("%s: no image in manifest.json", file)
	}
	for _, d := range m {
		for _, rt := range d.RepoTags {
			tag, err := name.NewTag(rt)
			if err != nil {
				return fmt.Errorf("%s: repo tag %q: %v", file, rt, err)
			}
			img, err := tarball.ImageFromPath(file, &tag)
			if err != nil {
				return fmt.Errorf("%s: %s: %v", file, rt, err)
			}
			if err := validate.Image(img); err != nil {
				return fmt.Errorf("%s: %s: %v", file, rt, err)
			}
			id, _ := img.ConfigName()
			layers, _ := img.Layers()
			fmt.Printf("%s %s %d layers ok\n", rt, id, len(layers))
		}
	}
	return nil
}
