package image

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// RecipeVersion changes whenever Build changes what it puts into an image, so that
// cached images made by an older recipe are rebuilt.
const RecipeVersion = "1"

// DefaultSuite is the Debian release the default image is built from.
const DefaultSuite = "bookworm"

// FallbackMirror is used when the host's apt sources name no Debian mirror.
const FallbackMirror = "http://deb.debian.org/debian"

// variant is debootstrap's smallest variant: essential packages and apt only.
const variant = "minbase"

// DefaultPackages are the tools the benchmarks run inside the image. All exist in
// bookworm main (checked with apt-cache policy).
var DefaultPackages = []string{
	"sysbench", // cpu, memory benchmarks
	"fio",      // disk benchmark
	"iperf3",   // network benchmark
	"apache2",  // http benchmark server
	"procps",   // ps, free, top for probes
	"sysstat",  // mpstat, iostat, pidstat
	"nicstat",  // network interface statistics
	"iftop",    // network traffic per connection
	// application benchmarks: servers run in the runtime under test, clients on the host
	"redis-server",
	"nginx-light",
	"postgresql",
}

// ErrBadOption: a build option is malformed.
var ErrBadOption = errors.New("bad build option")

// BuildOptions is the recipe of a debootstrap-built image.
type BuildOptions struct {
	Name     string   // image name, default "default"
	Suite    string   // Debian release, default "bookworm"
	Mirror   string   // Debian mirror URL, default from the host's apt sources
	Packages []string // extra packages, default DefaultPackages
	Force    bool     // rebuild even when an image of the same recipe exists
}

var (
	suitePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	packagePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)

// Resolved fills in defaults and checks every option, returning an error that
// wraps ErrBadOption and names the bad value.
func (o BuildOptions) Resolved() (BuildOptions, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := CheckName(o.Name); err != nil {
		return o, err
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if !suitePattern.MatchString(o.Suite) {
		return o, fmt.Errorf("%w: suite %q is not a Debian release name such as bookworm", ErrBadOption, o.Suite)
	}
	if o.Mirror == "" {
		o.Mirror = HostMirror()
	}
	if u, err := url.Parse(o.Mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("%w: mirror %q is not an http(s) URL such as %s", ErrBadOption, o.Mirror, FallbackMirror)
	}
	o.Mirror = strings.TrimRight(o.Mirror, "/")
	if len(o.Packages) == 0 {
		o.Packages = DefaultPackages
	}
	seen := map[string]bool{}
	var pkgs []string
	for _, p := range o.Packages {
		if !packagePattern.MatchString(p) {
			return o, fmt.Errorf("%w: package %q is not a Debian package name", ErrBadOption, p)
		}
		if !seen[p] {
			seen[p] = true
			pkgs = append(pkgs, p)
		}
	}
	sort.Strings(pkgs)
	o.Packages = pkgs
	return o, nil
}

// RecipeHash identifies what Build would make from the options (call it on
// resolved options): images with the same hash are interchangeable.
func (o BuildOptions) RecipeHash() string {
	pkgs := append([]string(nil), o.Packages...)
	sort.Strings(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "recipe %s\nsuite %s\nvariant %s\nmirror %s\npackages %s\n",
		RecipeVersion, o.Suite, variant, o.Mirror, strings.Join(pkgs, ","))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// HostMirror returns the first Debian archive URI in the host's apt sources (one
// whose path ends in /debian, so not the security archive), or FallbackMirror.
func HostMirror() string {
	files := []string{"/etc/apt/sources.list"}
	for _, pattern := range []string{"/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	for _, file := range files {
		for _, uri := range aptURIs(file) {
			if u, err := url.Parse(uri); err == nil && (u.Scheme == "http" || u.Scheme == "https") &&
				strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/debian") {
				return strings.TrimRight(uri, "/")
			}
		}
	}
	return FallbackMirror
}

// aptURIs reads the archive URIs of "deb" entries from a one-line-style (.list)
// or deb822-style (.sources) apt source file.
func aptURIs(file string) []string {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var uris []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		fields := strings.Fields(line)
		switch {
		case strings.HasSuffix(file, ".sources") && len(fields) >= 2 && strings.EqualFold(fields[0], "URIs:"):
			uris = append(uris, fields[1:]...)
		case strings.HasSuffix(file, ".list") && len(fields) >= 2 && fields[0] == "deb":
			// Skip options in brackets: deb [arch=amd64 signed-by=...] URI suite ...
			rest := fields[1:]
			if strings.HasPrefix(rest[0], "[") {
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) > 0 {
				uris = append(uris, rest[0])
			}
		}
	}
	return uris
}

// Cached returns the image named by opts when it was built from the same recipe,
// and nil when Build would have to build.
func (s *Store) Cached(opts BuildOptions) (*Image, error) {
	r, err := opts.Resolved()
	if err != nil {
		return nil, err
	}
	img, err := s.Get(r.Name)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if img.Recipe != r.RecipeHash() {
		return nil, nil
	}
	return img, nil
}

// Build makes an image with debootstrap, or returns the cached image of the same
// name and recipe (built = false) unless opts.Force. debootstrap's output goes to log.
func (s *Store) Build(ctx context.Context, opts BuildOptions, log io.Writer) (*Image, bool, error) {
	if log == nil {
		log = io.Discard
	}
	r, err := opts.Resolved()
	if err != nil {
		return nil, false, err
	}
	if !r.Force {
		if img, err := s.Cached(r); err != nil || img != nil {
			return img, false, err
		}
	}
	// One build per name at a time, across processes: the second waits and then
	// finds the first one's image.
	unlock, err := s.lock(ctx, "build-"+r.Name)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if !r.Force {
		if img, err := s.Cached(r); err != nil || img != nil {
			return img, false, err
		}
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return nil, false, errors.New("building image: debootstrap not found: install it with \"apt-get install debootstrap\"")
	}

	tmp, err := os.MkdirTemp(s.tmpDir(), "isobench-build-")
	if err != nil {
		return nil, false, fmt.Errorf("building image: %w", err)
	}
	defer func() {
		if err := removeTree(tmp); err != nil {
			fmt.Fprintf(log, "isobench: cleaning up after build: %v\n", err)
		}
	}()
	root := filepath.Join(tmp, "rootfs")
	recipe := r.RecipeHash()
	start := time.Now()
	fmt.Fprintf(log, "isobench: debootstrap %s from %s with %s\n", r.Suite, r.Mirror, strings.Join(r.Packages, ","))
	err = runLogged(ctx, log, "debootstrap", "--variant="+variant, "--include="+strings.Join(r.Packages, ","),
		r.Suite, root, r.Mirror)
	if err != nil {
		return nil, false, fmt.Errorf("building image %s: %w (output above)", r.Name, err)
	}
	if err := tidyRootFS(root); err != nil {
		return nil, false, fmt.Errorf("building image %s: %w", r.Name, err)
	}
	fmt.Fprintf(log, "isobench: debootstrap done in %s; packing layer\n", time.Since(start).Round(time.Second))
	layerFile := filepath.Join(tmp, "layer.tar.gz")
	if err := packDir(ctx, root, layerFile); err != nil {
		return nil, false, fmt.Errorf("building image %s: %w", r.Name, err)
	}
	source := fmt.Sprintf("debootstrap %s recipe %s", r.Suite, recipe)
	v, err := singleLayerImage(layerFile, fmt.Sprintf("isobench image build: debootstrap --variant=%s --include=%s %s %s",
		variant, strings.Join(r.Packages, ","), r.Suite, r.Mirror), time.Now())
	if err != nil {
		return nil, false, fmt.Errorf("building image %s: %w", r.Name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("building image %s: %w", r.Name, err)
	}
	img, err := s.put(ctx, v, r.Name, source, recipe, layerSource{}, buildLimits)
	if err != nil {
		return img, img != nil, err // img is stored when only removing unused trees failed
	}
	fmt.Fprintf(log, "isobench: image %s %s built in %s\n", img.Name, img.ShortDigest(), time.Since(start).Round(time.Second))
	return img, true, nil
}

// tidyRootFS removes what debootstrap leaves that only wastes space or carries the
// build host's identity: downloaded packages, apt lists, logs, the host's resolver
// configuration and host name. Runtimes provide /etc/resolv.conf and /etc/hostname.
func tidyRootFS(root string) error {
	globs := []string{
		"var/cache/apt/archives/*.deb",
		"var/cache/apt/*.bin",
		"var/lib/apt/lists/*_*",
		"var/log/apt/*",
		"var/log/*.log",
		"tmp/*",
		"var/tmp/*",
	}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			return fmt.Errorf("cleaning apt caches: %w", err)
		}
		for _, m := range matches {
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("cleaning apt caches: %w", err)
			}
		}
	}
	for file, content := range map[string]string{"etc/resolv.conf": "", "etc/hostname": "localhost\n"} {
		p := filepath.Join(root, file)
		if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("resetting %s: %w", file, err)
			}
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("resetting %s: %w", file, err)
		}
	}
	return nil
}
