package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/isobench/isobench/internal/mounts"
)

// Annotation keys on the index.json descriptors of the store's layout.
const (
	annotationName     = "org.opencontainers.image.ref.name"
	annotationCreated  = "org.opencontainers.image.created"
	annotationSource   = "io.isobench.source"
	annotationRecipe   = "io.isobench.recipe"
	annotationUnpacked = "io.isobench.unpacked-bytes"
	annotationEntries  = "io.isobench.entries"
)

// Errors callers (the CLI) tell apart: they are the user's to fix.
var (
	// ErrNotFound: no image has that name or digest.
	ErrNotFound = errors.New("image not found")
	// ErrBadName: an image name breaks the naming rule.
	ErrBadName = errors.New("bad image name")
	// ErrAmbiguous: a digest prefix names more than one image.
	ErrAmbiguous = errors.New("ambiguous image reference")
	// ErrUnknownFormat: an import source is none of the formats Import reads, or is corrupt.
	ErrUnknownFormat = errors.New("unknown image format")
	// ErrNoSource: an import source does not exist or cannot be read.
	ErrNoSource = errors.New("cannot read import source")
	// ErrHome: the home directory holds something isobench did not make there (a
	// link, another user's directory).
	ErrHome = errors.New("unusable home directory")
)

// Modes of the store's directories. Unpacked trees keep their images' owners
// and modes, so nothing below the home may be reachable by other users: the
// home can be traversed (0711) but not listed, everything in it is 0700.
const (
	homeMode    = 0o711
	privateMode = 0o700
)

// privateDirs are made (or tightened) in the home by Open: the store's own and
// the per-run state and VM asset caches that hold views of unpacked trees.
var privateDirs = []string{"images", "rootfs", "tmp", "locks", "run", "assets"}

// Store is the content-addressed image cache under a home directory: one OCI image
// layout in <home>/images holds every image, and <home>/rootfs holds unpacked trees.
type Store struct {
	home string
	// Limits bound what Import accepts (DefaultLimits unless changed).
	Limits Limits
}

// Open makes (if needed) and opens the store under home. Its directories are made
// private (0700, the home 0711), existing ones tightened, and a directory that is
// a symbolic link or belongs to another user is refused.
func Open(home string) (*Store, error) {
	if home == "" {
		return nil, errors.New("opening image store: empty home directory")
	}
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, fmt.Errorf("opening image store %s: %w", home, err)
	}
	s := &Store{home: abs, Limits: DefaultLimits}
	if err := s.makeDirs(); err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, name := range []string{"oci-layout", "index.json", "blobs", "blobs/sha256"} {
		fi, err := os.Lstat(filepath.Join(s.layoutDir(), name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("opening image store: %w", err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("opening image store: %w: %s is a symbolic link, which isobench never follows: remove it", ErrHome, filepath.Join(s.layoutDir(), name))
		}
	}
	if _, err := os.Lstat(filepath.Join(s.layoutDir(), "index.json")); errors.Is(err, fs.ErrNotExist) {
		if _, err := layout.Write(s.layoutDir(), empty.Index); err != nil {
			return nil, fmt.Errorf("creating image layout in %s: %w", s.layoutDir(), err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("opening image store: %w", err)
	}
	return s, nil
}

// makeDirs makes the home and its private directories, tightening existing ones.
func (s *Store) makeDirs() error {
	fi, err := os.Stat(s.home) // the home itself may be a link the user made
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(s.home, homeMode); err != nil {
			return err
		}
		if err := os.Chmod(s.home, homeMode); err != nil { // umask may have taken bits
			return err
		}
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w: cannot reach %s: permission denied (the store is private to the user who made it): run isobench as that user or choose another --home", ErrHome, s.home)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a directory", ErrHome, s.home)
	default:
		// Tighten a home isobench made (it holds the store's layout); leave
		// the mode of a directory the user chose for other things too (/tmp).
		if _, err := os.Lstat(filepath.Join(s.home, "images", "oci-layout")); err == nil && fi.Mode().Perm()&^homeMode != 0 {
			if err := os.Chmod(s.home, homeMode); err != nil {
				return fmt.Errorf("tightening %s: %w", s.home, err)
			}
		}
	}
	for _, name := range privateDirs {
		if err := privateDir(filepath.Join(s.home, name)); err != nil {
			return err
		}
	}
	return nil
}

// privateDir makes dir with mode 0700, or checks that the existing dir is a real
// directory owned by this user and tightens it to 0700.
func privateDir(dir string) error {
	err := os.Mkdir(dir, privateMode)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is a symbolic link or not a directory: isobench made none such there and never follows links (remove it)", ErrHome, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to user %d, not to %d (the store is private to the user who made it): run isobench as that user or choose another --home", ErrHome, dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm() != privateMode || fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		if err := os.Chmod(dir, privateMode); err != nil {
			return fmt.Errorf("tightening %s: %w", dir, err)
		}
	}
	return nil
}

// Home is the store's home directory.
func (s *Store) Home() string { return s.home }

func (s *Store) layoutDir() string { return filepath.Join(s.home, "images") }
func (s *Store) rootfsDir() string { return filepath.Join(s.home, "rootfs") }
func (s *Store) tmpDir() string    { return filepath.Join(s.home, "tmp") }
func (s *Store) lockDir() string   { return filepath.Join(s.home, "locks") }

func (s *Store) layout() layout.Path { return layout.Path(s.layoutDir()) }

// checkBlobFile refuses a blob of the store that is not a regular file.
func (s *Store) checkBlobFile(h v1.Hash) error {
	f, err := s.openBlob(h)
	if err != nil {
		return err
	}
	return f.Close()
}

// openBlob opens a blob of the store's layout without following links.
func (s *Store) openBlob(h v1.Hash) (io.ReadCloser, error) {
	if h.Algorithm != "sha256" || !isDigestHex(h.Hex) {
		return nil, fmt.Errorf("%w: blob digest %s", ErrUnknownFormat, h)
	}
	return openBeneath(s.layoutDir(), "blobs/sha256/"+h.Hex)
}

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
	// Absent in stores written before they were recorded: RootFS then applies the
	// store's limits.
	for key, dst := range map[string]*int64{annotationUnpacked: &img.Unpacked, annotationEntries: &img.Entries} {
		if v, ok := d.Annotations[key]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("reading image %s: annotation %s is %q, not a count", img.Name, key, v)
			}
			*dst = n
		}
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
	return find(images, name)
}

func find(images []*Image, name string) (*Image, error) {
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
					return nil, fmt.Errorf("%w: digest prefix %q matches both %s and %s: give more digits", ErrAmbiguous, name, found.Name, img.Name)
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

// buildLimits bound images isobench builds itself (debootstrap output, not
// someone else's archive): generous, but still finite.
var buildLimits = Limits{MaxBytes: 64 << 30, MaxEntries: 10_000_000}

// put checks img completely (readImage: digests, member rules, limits) and then
// writes it to the layout under name, replacing an image of the same name; trees
// and blobs no image uses any more are removed. When only that removal fails,
// put returns the stored image and the error. put takes the index lock for the
// write so that a concurrent Remove never collects blobs that are being written.
func (s *Store) put(ctx context.Context, img v1.Image, name, source, recipe string, src layerSource, lim Limits) (*Image, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	totals, err := readImage(ctx, img, src, lim, nil)
	if err != nil {
		return nil, fmt.Errorf("checking image %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("importing %s: %w", name, err)
	}
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.dropBadBlobsLocked(img); err != nil {
		return nil, err
	}
	annotations := map[string]string{
		annotationName:     name,
		annotationCreated:  time.Now().UTC().Format(time.RFC3339),
		annotationSource:   source,
		annotationUnpacked: strconv.FormatInt(totals.MaxBytes, 10),
		annotationEntries:  strconv.FormatInt(totals.MaxEntries, 10),
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
	// The image is stored; failing to remove an unused tree does not undo
	// that, so the error goes back with the image.
	_, _, gcErr := s.collectTreesLocked()
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
			stored, err := s.imageFromDescriptor(desc)
			if err != nil {
				return nil, err
			}
			if gcErr != nil {
				return stored, fmt.Errorf("image %s stored, but removing unused root filesystems failed: %w", name, gcErr)
			}
			return stored, nil
		}
	}
	return nil, fmt.Errorf("image %s missing from %s right after writing it", name, s.layoutDir())
}

// dropBadBlobsLocked removes blobs of img that are already in the store but do
// not hash to their names (the layout writer keeps a blob that exists, so a
// damaged or planted one would otherwise be reused for the genuine image).
func (s *Store) dropBadBlobsLocked(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("%w: reading manifest: %v", ErrUnknownFormat, err)
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("computing image digest: %w", err)
	}
	digests := []v1.Hash{d, m.Config.Digest}
	for _, l := range m.Layers {
		digests = append(digests, l.Digest)
	}
	for _, h := range digests {
		if h.Algorithm != "sha256" || !isDigestHex(h.Hex) {
			return fmt.Errorf("%w: blob digest %s", ErrUnknownFormat, h)
		}
		p := filepath.Join(s.layoutDir(), "blobs", "sha256", h.Hex)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		good, err := s.blobMatches(h)
		if err != nil {
			return err
		}
		if !good {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("removing damaged blob %s: %w", p, err)
			}
		}
	}
	return nil
}

// blobMatches reports whether the store's blob h is a regular file whose content
// hashes to h.
func (s *Store) blobMatches(h v1.Hash) (bool, error) {
	f, err := s.openBlob(h)
	if errors.Is(err, ErrUnsafeContent) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking blob %s: %w", h, err)
	}
	defer f.Close()
	got, _, err := v1.SHA256(f)
	if err != nil {
		return false, fmt.Errorf("checking blob %s: %w", h, err)
	}
	return got == h, nil
}

// Removal says what Remove removed.
type Removal struct {
	Name   string
	Digest string
	// SharedWith are the other names of the same image: only the name went, the
	// image and its unpacked tree stay.
	SharedWith []string
	// Trees are the unpacked root filesystems removed with the image.
	Trees []string
}

// String is one line for the user.
func (r *Removal) String() string {
	short := strings.TrimPrefix(r.Digest, "sha256:")
	if len(short) > 12 {
		short = short[:12]
	}
	if len(r.SharedWith) > 0 {
		return fmt.Sprintf("removed name %s; image %s kept: still named %s", r.Name, short, strings.Join(r.SharedWith, ", "))
	}
	switch len(r.Trees) {
	case 0:
		return fmt.Sprintf("removed image %s %s (no unpacked root filesystem)", r.Name, short)
	case 1:
		return fmt.Sprintf("removed image %s %s and its root filesystem %s", r.Name, short, r.Trees[0])
	}
	return fmt.Sprintf("removed image %s %s and its root filesystems %s", r.Name, short, strings.Join(r.Trees, ", "))
}

// Remove deletes the named image (by name, or by a digest that only one name
// has), the blobs no other image uses, and the unpacked trees of images no longer
// in the store, except trees a mount still uses (an error names them).
func (s *Store) Remove(name string) (*Removal, error) {
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	images, err := s.listLocked()
	if err != nil {
		return nil, err
	}
	img, err := find(images, name)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, other := range images {
		if other.Digest == img.Digest {
			names = append(names, other.Name)
		}
	}
	if name != img.Name && len(names) > 1 {
		return nil, fmt.Errorf("%w: digest %s is named %s: remove the images by name", ErrAmbiguous, name, strings.Join(names, ", "))
	}
	if err := s.layout().RemoveDescriptors(match.Name(img.Name)); err != nil {
		return nil, fmt.Errorf("removing image %s from %s: %w", img.Name, s.layoutDir(), err)
	}
	r := &Removal{Name: img.Name, Digest: img.Digest}
	for _, n := range names {
		if n != img.Name {
			r.SharedWith = append(r.SharedWith, n)
		}
	}
	if err := s.collectGarbageLocked(); err != nil {
		return r, err
	}
	removed, kept, err := s.collectTreesLocked()
	hex := strings.TrimPrefix(img.Digest, "sha256:")
	for _, t := range removed {
		if strings.HasPrefix(filepath.Base(t), hex) {
			r.Trees = append(r.Trees, t)
		}
	}
	if err != nil {
		return r, err
	}
	for tree, users := range kept {
		if strings.HasPrefix(filepath.Base(tree), hex) {
			return r, fmt.Errorf("image %s removed, but its root filesystem %s is kept: mounted at %s (stop the run using it, then run \"isobench cleanup\")", img.Name, tree, strings.Join(users, ", "))
		}
	}
	return r, nil
}

// CollectUnused opens the store at home and removes the unpacked trees no image
// uses (those a mount kept when their image was replaced or removed) and unused
// blobs. It returns the trees removed; trees still mounted are named in the error.
func CollectUnused(home string) ([]string, error) {
	s, err := Open(home)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock(nil, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.collectGarbageLocked(); err != nil {
		return nil, err
	}
	removed, kept, err := s.collectTreesLocked()
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for tree, users := range kept {
		errs = append(errs, fmt.Errorf("unused root filesystem %s kept: still mounted at %s", tree, strings.Join(users, ", ")))
	}
	return removed, errors.Join(errs...)
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

// collectTreesLocked removes what in <home>/rootfs no image in the store uses:
// trees of removed or replaced images, trees unpacked by an older unpacking rule,
// and unpacks a crashed process left. A tree still mounted somewhere is kept and
// returned with its mount points; one being unpacked right now is left alone.
func (s *Store) collectTreesLocked() (removed []string, kept map[string][]string, err error) {
	descs, err := s.descriptorsLocked()
	if err != nil {
		return nil, nil, err
	}
	live := map[string]bool{}
	for _, d := range descs {
		live[treeName(d.Digest.String())] = true
	}
	entries, err := os.ReadDir(s.rootfsDir())
	if err != nil {
		return nil, nil, fmt.Errorf("listing unpacked trees: %w", err)
	}
	kept = map[string][]string{}
	var errs []error
	for _, e := range entries {
		if live[e.Name()] {
			continue
		}
		// Every tree and unpack directory name holds the digest it is of; its
		// lock is held while it is being unpacked.
		hex := strings.TrimPrefix(e.Name(), unpackPrefix)
		if i := strings.IndexAny(hex, ".-"); i >= 0 {
			hex = hex[:i]
		}
		var unlock func()
		if isDigestHex(hex) {
			var busy bool
			if unlock, busy, err = s.tryLock("rootfs-" + hex); err != nil {
				errs = append(errs, err)
				continue
			} else if busy {
				continue
			}
		}
		p := filepath.Join(s.rootfsDir(), e.Name())
		users, err := mountsUsing(p)
		switch {
		case err != nil:
			errs = append(errs, err)
		case len(users) > 0:
			kept[p] = users
		default:
			if err := removeTree(p); err != nil {
				errs = append(errs, fmt.Errorf("removing unused root filesystem: %w", err))
			} else {
				removed = append(removed, p)
			}
		}
		if unlock != nil {
			unlock()
		}
	}
	return removed, kept, errors.Join(errs...)
}

// mountsUsing lists mount points that use dir: mounted at or below it, a bind
// mount of it, or an overlay naming it as a layer. dir must match whole (a
// path that dir is a prefix of does not count).
func mountsUsing(dir string) ([]string, error) {
	ms, err := mounts.All()
	if err != nil {
		return nil, err
	}
	var users []string
	for _, m := range ms {
		named := namesPath(m.Source, dir) || namesPath(m.Options, dir) || namesPath(m.VFSOptions, dir)
		if named || mounts.Within(m.Mountpoint, dir) || mounts.Within(m.Root, dir) {
			users = append(users, m.Mountpoint)
		}
	}
	return users, nil
}

// namesPath reports whether s holds dir as a whole path (followed by the end, a
// separator of mount options or of overlay layers, a space or a '/'), so that a
// tree's name is not matched inside a longer one (<hex> inside <hex>.v2).
func namesPath(s, dir string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], dir)
		if j < 0 {
			return false
		}
		end := i + j + len(dir)
		if end == len(s) || strings.ContainsRune(",: /", rune(s[end])) {
			return true
		}
		i = end
	}
}
