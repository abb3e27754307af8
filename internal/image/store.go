package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/isobench/isobench/internal/mounts"
)

// Annotation keys on the index.json descriptors of the store's layout.
const (
	annotationName    = "org.opencontainers.image.ref.name"
	annotationCreated = "org.opencontainers.image.created"
	annotationSource  = "io.isobench.source"
	annotationRecipe  = "io.isobench.recipe"
)

// Errors callers (the CLI) tell apart: they are the user's to fix.
var (
	// ErrNotFound: no image has that name or digest.
	ErrNotFound = errors.New("image not found")
	// ErrBadName: an image name breaks the naming rule.
	ErrBadName = errors.New("bad image name")
	// ErrUnknownFormat: an import source is none of the formats Import reads, or is corrupt.
	ErrUnknownFormat = errors.New("unknown image format")
	// ErrNoSource: an import source does not exist or cannot be read.
	ErrNoSource = errors.New("cannot read import source")
)

// namePattern keeps names usable as docker tags, file names and CLI arguments.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// CheckName returns an error naming the rule when name is not a valid image name.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w %q: use lower-case letters, digits, '.', '_' and '-', starting with a letter or digit", ErrBadName, name)
	}
	return nil
}

// Store is the content-addressed image cache under a home directory: one OCI image
// layout in <home>/images holds every image, and <home>/rootfs holds unpacked trees.
type Store struct {
	home string
}

// Open makes (if needed) and opens the store under home.
func Open(home string) (*Store, error) {
	if home == "" {
		return nil, errors.New("opening image store: empty home directory")
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("opening image store %s: %w", home, err)
	}
	s := &Store{home: abs}
	for _, dir := range []string{s.layoutDir(), s.rootfsDir(), s.tmpDir(), s.lockDir()} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
	}
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(s.layoutDir(), "index.json")); errors.Is(err, fs.ErrNotExist) {
		if _, err := layout.Write(s.layoutDir(), empty.Index); err != nil {
			return nil, fmt.Errorf("creating image layout in %s: %w", s.layoutDir(), err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	return s, nil
}

// Home is the store's home directory.
func (s *Store) Home() string { return s.home }

func (s *Store) layoutDir() string { return filepath.Join(s.home, "images") }
func (s *Store) rootfsDir() string { return filepath.Join(s.home, "rootfs") }
func (s *Store) tmpDir() string    { return filepath.Join(s.home, "tmp") }
func (s *Store) lockDir() string   { return filepath.Join(s.home, "locks") }

func (s *Store) layout() layout.Path { return layout.Path(s.layoutDir()) }

// List returns every named image in the store, sorted by name.
func (s *Store) List() ([]*Image, error) {
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.listLocked()
}

func (s *Store) listLocked() ([]*Image, error) {
	descs, err := s.descriptorsLocked()
	if err != nil {
		return nil, err
	}
	var images []*Image
	for _, d := range descs {
		if d.Annotations[annotationName] == "" {
			continue // not ours to show
		}
		img, err := s.imageFromDescriptor(d)
		if err != nil {
			return nil, err
		}
		images = append(images, img)
	}
	sort.Slice(images, func(a, b int) bool { return images[a].Name < images[b].Name })
	return images, nil
}

func (s *Store) descriptorsLocked() ([]v1.Descriptor, error) {
	idx, err := s.layout().ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading image index in %s: %w", s.layoutDir(), err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading image index in %s: %w", s.layoutDir(), err)
	}
	return m.Manifests, nil
}

func (s *Store) imageFromDescriptor(d v1.Descriptor) (*Image, error) {
	img := &Image{
		Name:   d.Annotations[annotationName],
		Digest: d.Digest.String(),
		Source: d.Annotations[annotationSource],
		Recipe: d.Annotations[annotationRecipe],
		store:  s,
	}
	if t, err := time.Parse(time.RFC3339, d.Annotations[annotationCreated]); err == nil {
		img.Created = t
	}
	v, err := s.layout().Image(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", img.Name, err)
	}
	m, err := v.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest of image %s: %w", img.Name, err)
	}
	for _, l := range m.Layers {
		img.Size += l.Size
	}
	return img, nil
}

// Get finds an image by name, by digest ("sha256:...") or by a unique digest prefix.
func (s *Store) Get(name string) (*Image, error) {
	images, err := s.List()
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		if img.Name == name {
			return img, nil
		}
	}
	prefix := strings.TrimPrefix(name, "sha256:")
	if len(prefix) >= 4 && isHex(prefix) {
		var found *Image
		for _, img := range images {
			if strings.HasPrefix(strings.TrimPrefix(img.Digest, "sha256:"), prefix) {
				if found != nil && found.Digest != img.Digest {
					return nil, fmt.Errorf("digest prefix %q matches both %s and %s: give more digits", name, found.Name, img.Name)
				}
				found = img
			}
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, notFoundError(name)
}

// notFoundError is ErrNotFound with a message that tells how to get the image.
type notFoundError string

func (e notFoundError) Error() string {
	return fmt.Sprintf("image %q not found: build it with \"isobench image build\" or import it with \"isobench image import\"", string(e))
}

func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// put writes img to the layout under name, replacing an image of the same name.
// The caller holds no lock; put takes the index lock for the whole write so that a
// concurrent Remove never collects blobs that are being written.
func (s *Store) put(img v1.Image, name, source, recipe string) (*Image, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	annotations := map[string]string{
		annotationName:    name,
		annotationCreated: time.Now().UTC().Format(time.RFC3339),
		annotationSource:  source,
	}
	if recipe != "" {
		annotations[annotationRecipe] = recipe
	}
	if err := s.layout().ReplaceImage(img, match.Name(name), layout.WithAnnotations(annotations)); err != nil {
		return nil, fmt.Errorf("writing image %s to %s: %w", name, s.layoutDir(), err)
	}
	if err := s.collectGarbageLocked(); err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("computing digest of image %s: %w", name, err)
	}
	descs, err := s.descriptorsLocked()
	if err != nil {
		return nil, err
	}
	for _, desc := range descs {
		if desc.Digest == d && desc.Annotations[annotationName] == name {
			return s.imageFromDescriptor(desc)
		}
	}
	return nil, fmt.Errorf("image %s missing from %s right after writing it", name, s.layoutDir())
}

// Remove deletes the named image, the blobs no other image uses, and its unpacked
// root filesystem unless another image shares it or a mounted overlay still uses it.
func (s *Store) Remove(name string) error {
	img, err := s.Get(name)
	if err != nil {
		return err
	}
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.layout().RemoveDescriptors(match.Name(img.Name)); err != nil {
		return fmt.Errorf("removing image %s from %s: %w", img.Name, s.layoutDir(), err)
	}
	if err := s.collectGarbageLocked(); err != nil {
		return err
	}
	descs, err := s.descriptorsLocked()
	if err != nil {
		return err
	}
	for _, d := range descs {
		if d.Digest.String() == img.Digest {
			return nil // another name still refers to the same image and its tree
		}
	}
	dir := img.rootfsPath()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if users, err := mountsUsing(dir); err != nil {
		return err
	} else if len(users) > 0 {
		return fmt.Errorf("image %s removed, but its root filesystem %s is kept: mounted at %s (stop the run using it, then run \"isobench cleanup\")", img.Name, dir, strings.Join(users, ", "))
	}
	if err := removeTree(dir); err != nil {
		return fmt.Errorf("removing root filesystem of image %s: %w", img.Name, err)
	}
	return nil
}

// collectGarbageLocked removes blobs that no image in index.json refers to. The
// layout only ever holds images (no nested indexes), so references are the
// manifest, its config and its layers. Files whose names are not digests (a crashed
// writer's temp files) are removed as well.
func (s *Store) collectGarbageLocked() error {
	descs, err := s.descriptorsLocked()
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, d := range descs {
		keep[d.Digest.Hex] = true
		img, err := s.layout().Image(d.Digest)
		if err != nil {
			return fmt.Errorf("reading image %s for garbage collection: %w", d.Digest, err)
		}
		m, err := img.Manifest()
		if err != nil {
			return fmt.Errorf("reading manifest %s for garbage collection: %w", d.Digest, err)
		}
		keep[m.Config.Digest.Hex] = true
		for _, l := range m.Layers {
			keep[l.Digest.Hex] = true
		}
	}
	dir := filepath.Join(s.layoutDir(), "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing blobs for garbage collection: %w", err)
	}
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing unused blob: %w", err)
		}
	}
	return nil
}

// mountsUsing lists mount points whose source or options name dir (an overlay with
// dir as a lower layer, or a bind mount of it).
func mountsUsing(dir string) ([]string, error) {
	ms, err := mounts.All()
	if err != nil {
		return nil, err
	}
	var users []string
	for _, m := range ms {
		named := strings.Contains(m.Source, dir) || strings.Contains(m.Options, dir) || strings.Contains(m.VFSOptions, dir)
		if named || within(m.Mountpoint, dir) || m.Root == dir {
			users = append(users, m.Mountpoint)
		}
	}
	return users, nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool { return mounts.Within(path, dir) }
