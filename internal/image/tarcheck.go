package image

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// Whiteout names of OCI/docker layers.
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// memberPath returns the clean relative path of an archive member ("." for the
// root), refusing what could leave the tree it is unpacked into: absolute names,
// ".." components, empty names and NUL bytes.
func memberPath(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("empty member name")
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("member name holds a NUL byte")
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("absolute path")
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf(`path leaves the tree ("..")`)
		}
	}
	return path.Clean(name), nil
}

// climbsOut reports whether the relative symbolic link target, read from the
// directory dir (a clean relative path), goes above the tree's root.
func climbsOut(dir, target string) bool {
	depth := 0
	if dir != "." {
		depth = strings.Count(dir, "/") + 1
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

type nodeKind uint8

const (
	kindDir nodeKind = iota
	kindFile
	kindSymlink
	kindOther // fifo or device node
)

// node is one path of the tree the layers build so far.
type node struct {
	kind     nodeKind
	layer    int // layer that made it, for opaque whiteouts
	children map[string]*node
}

// treeChecker follows the tree that a sequence of layers (or one archive) builds,
// member by member, and refuses members that would write outside it or through a
// symbolic link, hard links to anything but a regular file already in it, and
// types it does not know. Every store and import path runs archives through it, so
// the rules hold for rootfs tars, docker archives, OCI layout tars and layers alike.
type treeChecker struct {
	root  *node
	layer int
}

func newTreeChecker() *treeChecker {
	return &treeChecker{root: &node{kind: kindDir, children: map[string]*node{}}}
}

// nextLayer starts the next layer: opaque whiteouts hide what earlier layers made.
func (c *treeChecker) nextLayer() { c.layer++ }

// actionKind says what one member asks of the tree.
type actionKind uint8

const (
	actCreate   actionKind = iota // make Path from the header (replacing what is there unless both are directories)
	actWhiteout                   // remove Path and everything below it
	actOpaque                     // remove Remove (children of Path made by earlier layers)
	actIgnore                     // nothing to do (a PAX global header)
)

// action is the checked meaning of one member.
type action struct {
	kind    actionKind
	path    string   // clean relative path
	mkdirs  []string // missing parent directories to make first, outermost first
	replace bool     // a non-directory or a different type is there: remove it first
	remove  []string // actOpaque: paths to remove
	link    string   // actCreate of a hard link: clean relative target
}

// unsafeMember is the error for a member the checker refuses.
func unsafeMember(name, why string) error {
	return fmt.Errorf("%w: member %q: %s", ErrUnsafeContent, name, why)
}

// lookup walks to p without creating anything; it reports the first symbolic
// link or non-directory met on the way as blocker.
func (c *treeChecker) lookup(p string) (n *node, blocker string) {
	n = c.root
	if p == "." {
		return n, ""
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		child := n.children[part]
		if child == nil {
			return nil, ""
		}
		if i < len(parts)-1 && child.kind != kindDir {
			return nil, strings.Join(parts[:i+1], "/")
		}
		n = child
	}
	return n, ""
}

// parentOf returns the directory node that holds p, with the parent directories
// that do not exist yet; it refuses a path below a symbolic link or a file.
func (c *treeChecker) parentOf(name, p string) (*node, []string, error) {
	n := c.root
	parts := strings.Split(p, "/")
	var missing []string
	for i, part := range parts[:len(parts)-1] {
		child := n.children[part]
		sofar := strings.Join(parts[:i+1], "/")
		if child == nil {
			missing = append(missing, sofar)
			child = &node{kind: kindDir, layer: c.layer, children: map[string]*node{}}
			n.children[part] = child
		}
		switch child.kind {
		case kindSymlink:
			return nil, nil, unsafeMember(name, fmt.Sprintf("writes through the symbolic link %q", sofar))
		case kindFile, kindOther:
			return nil, nil, unsafeMember(name, fmt.Sprintf("its parent %q is not a directory", sofar))
		}
		n = child
	}
	return n, missing, nil
}

// check refuses an unsafe member or returns what it does to the tree.
func (c *treeChecker) check(h *tar.Header) (action, error) {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return action{kind: actIgnore}, nil
	}
	p, err := memberPath(h.Name)
	if err != nil {
		return action{}, unsafeMember(h.Name, err.Error())
	}
	base, dir := path.Base(p), path.Dir(p)
	if p == "." {
		if h.Typeflag != tar.TypeDir {
			return action{}, unsafeMember(h.Name, "the root of the tree is not a directory")
		}
		return action{kind: actCreate, path: p}, nil
	}
	parent, mkdirs, err := c.parentOf(h.Name, p)
	if err != nil {
		return action{}, err
	}
	if base == opaqueWhiteout {
		// parent is the marker's directory: what earlier layers put there goes.
		var remove []string
		for name, child := range parent.children {
			if child.layer < c.layer {
				remove = append(remove, path.Join(dir, name))
				delete(parent.children, name)
			}
		}
		return action{kind: actOpaque, path: dir, mkdirs: mkdirs, remove: remove}, nil
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		gone := strings.TrimPrefix(base, whiteoutPrefix)
		if gone == "" || gone == "." || gone == ".." || strings.Contains(gone, "/") {
			return action{}, unsafeMember(h.Name, "whiteout of no valid name")
		}
		delete(parent.children, gone)
		return action{kind: actWhiteout, path: path.Join(dir, gone), mkdirs: mkdirs}, nil
	}
	a := action{kind: actCreate, path: p, mkdirs: mkdirs}
	var kind nodeKind
	switch h.Typeflag {
	case tar.TypeDir:
		kind = kindDir
	case tar.TypeReg, tar.TypeGNUSparse:
		kind = kindFile
	case tar.TypeSymlink:
		kind = kindSymlink
		if h.Linkname == "" {
			return action{}, unsafeMember(h.Name, "symbolic link without a target")
		}
		if !strings.HasPrefix(h.Linkname, "/") && climbsOut(dir, h.Linkname) {
			return action{}, unsafeMember(h.Name, fmt.Sprintf("symbolic link to %q leaves the tree", h.Linkname))
		}
	case tar.TypeLink:
		kind = kindFile
		target, err := memberPath(h.Linkname)
		if err != nil {
			return action{}, unsafeMember(h.Name, fmt.Sprintf("hard link to %q: %v", h.Linkname, err))
		}
		t, blocker := c.lookup(target)
		switch {
		case blocker != "":
			return action{}, unsafeMember(h.Name, fmt.Sprintf("hard link to %q goes through %q, which is not a directory", h.Linkname, blocker))
		case target == p:
			return action{}, unsafeMember(h.Name, "hard link to itself")
		case t == nil || t.kind != kindFile:
			return action{}, unsafeMember(h.Name, fmt.Sprintf("hard link to %q, which is not a regular file earlier in the archive", h.Linkname))
		}
		a.link = target
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind = kindOther
	default:
		return action{}, unsafeMember(h.Name, fmt.Sprintf("unsupported member type %q", string(h.Typeflag)))
	}
	if old := parent.children[base]; old != nil {
		if old.kind != kindDir || kind != kindDir {
			a.replace = true
		}
		if old.kind == kindDir && kind == kindDir {
			old.layer = c.layer
			return a, nil
		}
	}
	n := &node{kind: kind, layer: c.layer}
	if kind == kindDir {
		n.children = map[string]*node{}
	}
	parent.children[base] = n
	return a, nil
}
