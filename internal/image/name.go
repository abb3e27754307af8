package image

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
)

// MaxNameLength keeps names usable inside engine tags ("isobench-<name>:<digest>").
const MaxNameLength = 128

// NameGrammar is the rule CheckName enforces, for error messages and help: one path
// component of a docker/OCI image reference.
const NameGrammar = `one component of a docker/OCI image reference: lower-case letters and digits, ` +
	`separated by a single '.', one or two '_', or any number of '-' ([a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*), ` +
	`at most 128 characters`

// CheckName returns an error naming the grammar when name is not a valid image
// name. The reference parser of distribution/reference (what docker, podman and
// containerd use) is the authority, so every name the store holds is one that
// every engine driver can tag.
func CheckName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s; an image name is %s", ErrBadName, name, why, NameGrammar)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > MaxNameLength {
		return bad(fmt.Sprintf("%d characters long", len(name)))
	}
	if strings.ContainsAny(name, "/:@") {
		return bad("it holds '/', ':' or '@' (no registry, path, tag or digest)")
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return bad(err.Error())
	}
	if !reference.IsNameOnly(named) || reference.FamiliarName(named) != name {
		return bad("not a plain repository name")
	}
	return nil
}

// NameFromPath makes an image name from a file or directory name: the base name
// without archive extensions, lower-cased, other characters and separator runs
// the grammar does not allow replaced by '-', separators trimmed from both ends.
func NameFromPath(p string) string {
	base := filepath.Base(filepath.Clean(p))
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".gz", ".oci"} {
		if strings.HasSuffix(strings.ToLower(base), ext) && len(base) > len(ext) {
			base = base[:len(base)-len(ext)]
			break
		}
	}
	isAlnum := func(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
	lower := strings.ToLower(base)
	var b strings.Builder
	for i := 0; i < len(lower); {
		if isAlnum(lower[i]) {
			b.WriteByte(lower[i])
			i++
			continue
		}
		j := i
		for j < len(lower) && !isAlnum(lower[j]) {
			j++
		}
		switch sep := lower[i:j]; {
		case sep == "." || sep == "_" || sep == "__" || strings.Trim(sep, "-") == "":
			b.WriteString(sep)
		default:
			b.WriteByte('-')
		}
		i = j
	}
	name := strings.Trim(b.String(), "._-")
	if len(name) > MaxNameLength {
		name = strings.TrimRight(name[:MaxNameLength], "._-")
	}
	if CheckName(name) != nil {
		return "imported"
	}
	return name
}
